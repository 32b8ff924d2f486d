"""Pytrees: containers keep their types, None is an empty subtree, registered classes and
dataclasses, leaf paths in errors, and results that mirror the input in every transform."""

from __future__ import annotations

import collections
import dataclasses

import numpy as np
import pytest

import dualad as ad

Point = collections.namedtuple("Point", "x y")


@ad.tree.register_dataclass
@dataclasses.dataclass
class Layer:
    w: np.ndarray
    b: np.ndarray
    name: str = dataclasses.field(default="dense", metadata={"static": True})


class Pair:
    def __init__(self, a, b):
        self.a, self.b = a, b


ad.tree.register_node(Pair, lambda p: ((p.a, p.b), None), lambda aux, ch: Pair(*ch))


def _tree():
    return collections.OrderedDict(
        [("z", np.array([1.0, 2.0])), ("a", Point(3.0, None)), ("m", [np.ones((2, 2)), (4.0,)]), ("none", None)]
    )


def test_flatten_unflatten_round_trip_keeps_types_and_order():
    t = _tree()
    leaves, treedef = ad.tree.flatten(t)
    assert len(leaves) == 4 == treedef.num_leaves
    assert leaves[0] is t["z"] and leaves[1] == 3.0  # insertion order of the dict, not sorted
    back = ad.tree.unflatten(treedef, leaves)
    assert type(back) is collections.OrderedDict and list(back) == ["z", "a", "m", "none"]
    assert type(back["a"]) is Point and back["a"].y is None and back["none"] is None
    assert type(back["m"]) is list and type(back["m"][1]) is tuple


def test_none_is_an_empty_subtree():
    assert ad.tree.leaves([None, 1.0, {"a": None}]) == [1.0]
    assert ad.tree.structure(None).num_leaves == 0
    assert ad.tree.unflatten(ad.tree.structure((None, 2.0)), [5.0]) == (None, 5.0)


def test_defaultdict_keeps_its_factory():
    d = collections.defaultdict(list, {"a": 1.0})
    back = ad.tree.map(lambda v: v * 2, d)
    assert type(back) is collections.defaultdict and back.default_factory is list and back["a"] == 2.0


def test_structures_compare_and_hash():
    assert ad.tree.structure({"a": 1.0, "b": 2.0}) == ad.tree.structure({"a": 5.0, "b": 6.0})
    assert ad.tree.structure({"a": 1.0, "b": 2.0}) != ad.tree.structure({"b": 1.0, "a": 2.0})
    assert ad.tree.structure((1.0,)) != ad.tree.structure([1.0])
    assert hash(ad.tree.structure([1.0, (2.0,)])) == hash(ad.tree.structure([3.0, (4.0,)]))
    assert repr(ad.tree.structure({"a": (1.0, None)})) == "PyTreeDef({'a': (*, None)})"


def test_map_over_several_trees_and_mismatch():
    assert ad.tree.map(lambda a, b: a * b, [1.0, (2.0,)], [3.0, (4.0,)]) == [3.0, (8.0,)]
    with pytest.raises(ValueError, match="differs"):
        ad.tree.map(lambda a, b: a, [1.0, 2.0], (1.0, 2.0))


def test_unflatten_checks_the_leaf_count():
    with pytest.raises(ValueError, match="2 leaves, 3 were given"):
        ad.tree.unflatten(ad.tree.structure([1.0, 2.0]), [1.0, 2.0, 3.0])


def test_leaf_paths():
    params = {"layer1": Layer(np.ones(2), np.zeros(2)), "scale": Point(1.0, 2.0), "pair": Pair(1.0, 2.0)}
    assert ad.tree.leaf_paths(params, "params") == [
        "params['layer1'].w", "params['layer1'].b", "params['scale'].x", "params['scale'].y",
        "params['pair'][<Pair child 0>]", "params['pair'][<Pair child 1>]",
    ]


def _loss(p):
    out = np.sum(p["z"] ** 2) + p["a"].x ** 3 + np.sum(np.sin(p["m"][0])) * p["m"][1][0]
    return out


def test_grad_mirrors_the_input_types():
    t = _tree()
    g = ad.grad(_loss)(t)
    assert type(g) is collections.OrderedDict and list(g) == list(t)
    assert type(g["a"]) is Point and g["a"].y is None and g["none"] is None
    np.testing.assert_allclose(g["z"], 2 * t["z"])
    np.testing.assert_allclose(g["a"].x, 27.0)
    np.testing.assert_allclose(g["m"][0], np.cos(np.ones((2, 2))) * 4.0)
    np.testing.assert_allclose(g["m"][1][0], np.sum(np.sin(np.ones((2, 2)))))
    # the other mode agrees, leaf by leaf
    gf = ad.jacfwd(_loss)(t)
    for a, b in zip(ad.tree.leaves(g), ad.tree.leaves(gf)):
        np.testing.assert_allclose(a, b)


def test_dataclass_and_registered_node_through_transforms():
    layer = Layer(np.array([1.0, 2.0]), np.array([0.5, -0.5]), name="first")

    def f(p):
        return np.sum(np.tanh(p.w * p.b))

    g = ad.grad(f)(layer)
    assert type(g) is Layer and g.name == "first"
    np.testing.assert_allclose(g.w, (1 - np.tanh(layer.w * layer.b) ** 2) * layer.b)
    y, t = ad.jvp(f, (layer,), (Layer(np.ones(2), np.zeros(2), "first"),))
    np.testing.assert_allclose(t, np.sum(g.w))
    h = ad.hessian(lambda p: p.a * p.a * p.b)(Pair(2.0, 3.0))
    assert type(h) is Pair and type(h.a) is Pair
    np.testing.assert_allclose([h.a.a, h.a.b, h.b.a, h.b.b], [6.0, 4.0, 4.0, 0.0])


def test_outputs_keep_their_types():
    def f(x):
        return collections.OrderedDict(b=np.sin(x), a=Point(x * 2, None))

    J = ad.jacrev(f)(np.array([0.1, 0.2]))
    assert type(J) is collections.OrderedDict and list(J) == ["b", "a"] and type(J["a"]) is Point and J["a"].y is None
    np.testing.assert_allclose(J["a"].x, 2 * np.eye(2))
    Jf = ad.jacfwd(f)(np.array([0.1, 0.2]))
    np.testing.assert_allclose(Jf["b"], J["b"])


def test_errors_name_the_leaf_by_its_path():
    params = {"layer1": Layer(np.ones(2), "oops"), "x": 1.0}
    with pytest.raises(TypeError, match=r"argument 0\['layer1'\]\.b"):
        ad.grad(lambda p: np.sum(p["layer1"].w))(params)
    with pytest.raises(TypeError, match=r"argument 1\[0\]\.y"):
        ad.grad(lambda a, b: a, argnums=(0, 1))(1.0, [Point(1.0, "s")])


def test_leafless_arguments_as_jax():
    """grad, value_and_grad and vjp with respect to containers without leaves ([], {}) return
    that empty structure, as JAX's; a None argument (JAX: None) and the Jacobian transforms
    (JAX: an obscure error) are refused, naming the reason."""
    with pytest.raises(TypeError, match="hold no arrays"):
        ad.grad(lambda x: 1.0)(None)
    assert ad.grad(lambda x, t: 1.0)([], 1) == []
    assert ad.grad(lambda x, y: np.sum(x["a"]) * y, argnums=(0, 1))({"a": [], "b": None}, 2.0) == ({"a": [], "b": None}, 0.0)
    value, g = ad.value_and_grad(lambda x, y: y * 2.0)({}, 3.0)
    assert float(value) == 6.0 and g == {}
    assert ad.vjp(lambda x: 1.0, ())[1](1.0) == ((),)
    with pytest.raises(TypeError, match="hold no arrays"):
        ad.jacfwd(lambda x: 1.0)(None)
    with pytest.raises(TypeError, match="hold no arrays"):
        ad.hessian(lambda x: 1.0)([])


def test_constant_python_float_output_has_zero_cotangents():
    (g,) = ad.vjp(lambda x: 1.0, np.ones(2, np.float32))[1](1.0)
    np.testing.assert_array_equal(g, np.zeros(2, np.float32))
    assert g.dtype == np.float32


def test_registration_errors():
    with pytest.raises(ValueError, match="already"):
        ad.tree.register_node(dict, lambda d: ((), None), lambda a, c: {})
    with pytest.raises(TypeError, match="dataclass"):
        ad.tree.register_dataclass(Pair)


def test_optimiser_with_none_grads_and_namedtuple_params():
    params = Point(np.ones(2), np.ones(3))
    opt = ad.optim.SGD(0.1, momentum=0.9)
    state = opt.init(params)
    new, state = opt.update(Point(np.ones(2), None), state, params)
    assert type(new) is Point
    np.testing.assert_allclose(new.x, 0.9 * np.ones(2))
    np.testing.assert_array_equal(new.y, params.y)

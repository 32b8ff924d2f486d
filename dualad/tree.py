"""Pytrees: nested containers of arrays that every transform takes and returns.

Containers are tuples, lists, dicts (``OrderedDict``, ``defaultdict``), namedtuples, ``None``
(an empty container, with no leaves) and the classes registered with :func:`register_node` or
:func:`register_dataclass`; anything else is a leaf.  Results mirror their inputs: a namedtuple
comes back as that namedtuple, an ``OrderedDict`` as an ``OrderedDict``.

**Leaf order of dicts.** dualad takes a dict's leaves in its insertion order (JAX sorts the
keys).  A dict is rebuilt with its keys in the same order, so results always mirror the input
either way; the order only shows in :func:`leaves` and in the rows and columns of a Jacobian
taken with respect to a dict flattened by hand.

Examples
--------
>>> import numpy as np
>>> import dualad as ad
>>> params = {"w": np.ones(2), "b": 0.5, "extra": None}
>>> ad.tree.leaves(params)
[array([1., 1.]), 0.5]
>>> ad.tree.map(lambda x: 2 * x, params)
{'w': array([2., 2.]), 'b': 1.0, 'extra': None}
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .transforms import pytree as _pytree

__all__ = ["PyTreeDef", "flatten", "unflatten", "map", "leaves", "structure", "leaf_paths", "register_node", "register_dataclass"]


class PyTreeDef:
    """The structure of a pytree without its leaves (what :func:`flatten` returns).

    Two structures are equal when their containers, keys and auxiliary data are.

    Examples
    --------
    >>> import dualad as ad
    >>> s = ad.tree.structure({"a": 1.0, "b": (2.0, None)})
    >>> s
    PyTreeDef({'a': *, 'b': (*, None)})
    >>> s.num_leaves
    2
    """

    __slots__ = ("node",)

    def __init__(self, node):
        self.node = node

    @property
    def num_leaves(self) -> int:
        """How many leaves the structure holds."""
        return _pytree.leaf_count(self.node)

    def __eq__(self, other) -> bool:
        return isinstance(other, PyTreeDef) and self.node == other.node

    def __hash__(self) -> int:
        return hash(self.node)

    def __repr__(self) -> str:
        return f"PyTreeDef({_pytree.describe(self.node)})"


def flatten(tree) -> tuple[list, PyTreeDef]:
    """The leaves of ``tree`` in flattening order, and its structure.

    Examples
    --------
    >>> import dualad as ad
    >>> leaves, treedef = ad.tree.flatten([1.0, {"x": 2.0}])
    >>> leaves
    [1.0, 2.0]
    >>> ad.tree.unflatten(treedef, [3.0, 4.0])
    [3.0, {'x': 4.0}]
    """
    leaves, node = _pytree.tree_flatten(tree)
    return leaves, PyTreeDef(node)


def unflatten(treedef: PyTreeDef, leaves) -> Any:
    """The structure ``treedef`` rebuilt with ``leaves`` (in flattening order).

    Examples
    --------
    >>> import dualad as ad
    >>> ad.tree.unflatten(ad.tree.structure((1.0, None, 2.0)), [5.0, 6.0])
    (5.0, None, 6.0)
    """
    if not isinstance(treedef, PyTreeDef):
        raise TypeError(f"unflatten(treedef, leaves) takes the structure that flatten or structure returned, got {type(treedef).__name__}")
    leaves = list(leaves)
    if len(leaves) != treedef.num_leaves:
        raise ValueError(f"unflatten: {treedef} has {treedef.num_leaves} leaves, {len(leaves)} were given")
    return _pytree.tree_unflatten(treedef.node, leaves)


def leaves(tree) -> list:
    """The leaves of ``tree`` in flattening order.

    Examples
    --------
    >>> import dualad as ad
    >>> ad.tree.leaves({"a": (1.0, 2.0), "b": None})
    [1.0, 2.0]
    """
    return _pytree.tree_leaves(tree)


def structure(tree) -> PyTreeDef:
    """The structure of ``tree`` (its leaves replaced by ``*``).

    Examples
    --------
    >>> import dualad as ad
    >>> ad.tree.structure([1.0, (2.0,)])
    PyTreeDef([*, (*,)])
    """
    return PyTreeDef(_pytree.tree_flatten(tree)[1])


def leaf_paths(tree, root: str = "") -> list[str]:
    """Each leaf's path in Python syntax, with ``root`` in front (as dualad's errors name
    leaves).

    Examples
    --------
    >>> import dualad as ad
    >>> ad.tree.leaf_paths({"layer1": [1.0, 2.0]}, "params")
    ["params['layer1'][0]", "params['layer1'][1]"]
    """
    return _pytree.leaf_paths(_pytree.tree_flatten(tree)[1], root)


def map(f: Callable, tree, *rest) -> Any:  # JAX's name: jax.tree.map
    """``f`` applied leaf by leaf to ``tree`` and the trees in ``rest`` (which must have the
    same structure); the result has ``tree``'s structure.

    Examples
    --------
    >>> import dualad as ad
    >>> ad.tree.map(lambda a, b: a + b, {"x": 1.0, "y": (2.0,)}, {"x": 10.0, "y": (20.0,)})
    {'x': 11.0, 'y': (22.0,)}
    """
    leaves_, node = _pytree.tree_flatten(tree)
    others = []
    for i, t in enumerate(rest):
        ls, nd = _pytree.tree_flatten(t)
        if nd != node:
            raise ValueError(
                f"tree.map: tree {i + 1} has structure {_pytree.describe(nd)}, which differs from the first "
                f"tree's {_pytree.describe(node)}"
            )
        others.append(ls)
    return _pytree.tree_unflatten(node, [f(*xs) for xs in zip(leaves_, *others)])


def register_node(cls: type, flatten: Callable, unflatten: Callable) -> type:
    """Make instances of ``cls`` pytree containers (JAX's ``register_pytree_node``).

    Parameters
    ----------
    cls : type
        The container class.
    flatten : callable
        ``flatten(x) -> (children, aux)``: a sequence of child subtrees, and hashable data
        that is kept as structure (compared between trees, not differentiated).
    unflatten : callable
        ``unflatten(aux, children) -> x``.

    Returns
    -------
    cls

    Examples
    --------
    >>> import numpy as np
    >>> import dualad as ad
    >>> class Pair:
    ...     def __init__(self, a, b):
    ...         self.a, self.b = a, b
    >>> _ = ad.tree.register_node(Pair, lambda p: ((p.a, p.b), None), lambda aux, ch: Pair(*ch))
    >>> g = ad.grad(lambda p: p.a * p.b)(Pair(2.0, 3.0))
    >>> float(g.a), float(g.b)
    (3.0, 2.0)
    """
    return _pytree.register_node(cls, flatten, unflatten)


def register_dataclass(cls: type, data_fields=None, meta_fields=None) -> type:
    """Make a dataclass a pytree container (JAX's ``register_dataclass``); usable as a decorator.

    Parameters
    ----------
    cls : type
        A dataclass.
    data_fields, meta_fields : sequence of str, optional
        The fields that hold subtrees and the fields kept as (hashable) structure.  By default
        every field is a data field except those declared with
        ``dataclasses.field(metadata={"static": True})``.

    Returns
    -------
    cls

    Examples
    --------
    >>> import dataclasses
    >>> import numpy as np
    >>> import dualad as ad
    >>> @ad.tree.register_dataclass
    ... @dataclasses.dataclass
    ... class Layer:
    ...     w: np.ndarray
    ...     b: float
    ...     name: str = dataclasses.field(default="dense", metadata={"static": True})
    >>> g = ad.grad(lambda p: np.sum(p.w) * p.b)(Layer(np.ones(2), 3.0))
    >>> g
    Layer(w=array([3., 3.]), b=np.float64(2.0), name='dense')
    """
    return _pytree.register_dataclass(cls, data_fields, meta_fields)

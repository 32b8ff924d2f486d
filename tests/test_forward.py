"""Forward mode: lanes, structural ops, assignment, pytrees, errors, nesting, kinks."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.optimize
from helpers import check_jacfwd

import dualad as ad

RNG = np.random.default_rng(20240601)
A34 = RNG.normal(size=(3, 4))
B34 = RNG.normal(size=(3, 4))
B42 = RNG.normal(size=(4, 2))
C234 = RNG.normal(size=(2, 3, 4))
D342 = RNG.normal(size=(3, 4, 2))
V3 = RNG.normal(size=3)
V4 = RNG.normal(size=4)
W4 = RNG.normal(size=4)
SQ = RNG.normal(size=(3, 3)) + 3.0 * np.eye(3)  # well conditioned
SQ2 = RNG.normal(size=(3, 3)) + 3.0 * np.eye(3)
SQ_B = RNG.normal(size=(2, 3, 3)) + 3.0 * np.eye(3)
RHS = RNG.normal(size=(3, 2))


# --------------------------------------------------------------------------------------------
# (a) tangent lanes


def _composite(x, w):
    h = np.tanh(x @ w) * np.exp(-0.5 * x[:, ::-1] @ w)  # (3,)
    h = np.concatenate([h, np.sum(np.sin(x) ** 2, axis=1)])  # (6,)
    h = np.where(h > 0, np.sqrt(np.abs(h) + 1.0), np.log1p(h * h))
    return np.cumsum(h.reshape(2, 3).T, axis=0) / np.maximum(np.max(x), 1.0)


def test_lanes_match_single_directions():
    x = RNG.normal(size=(3, 4))
    w = RNG.normal(size=4)
    k = 5
    V = RNG.normal(size=(k, 3, 4))
    y = _composite(ad.Dual(x, V), w)
    assert isinstance(y, ad.Dual)
    assert y.tangent.shape == (k, 3, 2)
    np.testing.assert_allclose(ad.primal(y), _composite(x, w), rtol=1e-12)
    for j in range(k):
        single = _composite(ad.Dual(x, V[j]), w)
        assert single.tangent.shape == (3, 2)
        np.testing.assert_allclose(y.tangent[j], single.tangent, rtol=1e-12, atol=1e-14)
        _, t = ad.jvp(lambda x_: _composite(x_, w), (x,), (V[j],))
        np.testing.assert_allclose(y.tangent[j], t, rtol=1e-12, atol=1e-14)


def test_lanes_two_active_inputs():
    x, w = RNG.normal(size=(3, 4)), RNG.normal(size=4)
    Vx, Vw = RNG.normal(size=(3, 3, 4)), RNG.normal(size=(3, 4))
    y = _composite(ad.Dual(x, Vx), ad.Dual(w, Vw))
    for j in range(3):
        _, t = ad.jvp(_composite, (x, w), (Vx[j], Vw[j]))
        np.testing.assert_allclose(y.tangent[j], t, rtol=1e-12, atol=1e-14)


def test_jacfwd_chunking_matches_full():
    x, w = RNG.normal(size=(3, 4)), RNG.normal(size=4)
    full = ad.jacfwd(_composite)(x, w)
    for chunk in (1, 5, 12, 100):
        np.testing.assert_allclose(ad.jacfwd(_composite, chunk_size=chunk)(x, w), full, rtol=1e-12, atol=1e-14)
    check_jacfwd(_composite, x, w, argnums=(0, 1))


# --------------------------------------------------------------------------------------------
# (b) structural ops: jacfwd against central differences

STRUCTURAL = {
    # reductions
    "sum": (lambda a: np.sum(a), (A34,)),
    "sum_axis0": (lambda a: np.sum(a, axis=0), (A34,)),
    "sum_axis1_keepdims": (lambda a: np.sum(a, axis=1, keepdims=True), (A34,)),
    "sum_method_tuple_axis": (lambda a: a.sum(axis=(0, 2)), (C234,)),
    "mean": (lambda a: np.mean(a), (A34,)),
    "mean_axis1_keepdims": (lambda a: np.mean(a, axis=1, keepdims=True), (A34,)),
    "prod": (lambda a: np.prod(a), (A34,)),
    "prod_axis0": (lambda a: np.prod(a, axis=0), (A34,)),
    "prod_axis1_keepdims": (lambda a: a.prod(axis=1, keepdims=True), (A34,)),
    "max": (lambda a: np.max(a), (A34,)),
    "max_axis1": (lambda a: np.max(a, axis=1), (A34,)),
    "max_axis0_keepdims": (lambda a: a.max(axis=0, keepdims=True), (A34,)),
    "min": (lambda a: np.min(a), (A34,)),
    "min_axis0": (lambda a: np.min(a, axis=0), (A34,)),
    "min_axis1_keepdims": (lambda a: a.min(axis=1, keepdims=True), (A34,)),
    "var": (lambda a: np.var(a), (A34,)),
    "var_axis0_ddof1": (lambda a: np.var(a, axis=0, ddof=1), (A34,)),
    "var_keepdims": (lambda a: a.var(axis=1, keepdims=True), (A34,)),
    "std": (lambda a: np.std(a), (A34,)),
    "std_axis1": (lambda a: np.std(a, axis=1), (A34,)),
    # products
    "dot_mm": (lambda a, b: np.dot(a, b), (A34, B42)),
    "dot_mv": (lambda a, v: np.dot(a, v), (A34, V4)),
    "dot_vv": (lambda v, w: np.dot(v, w), (V4, W4)),
    "dot_method": (lambda a, b: a.dot(b), (A34, B42)),
    "matmul": (lambda a, b: np.matmul(a, b), (A34, B42)),
    "matmul_op": (lambda a, b: a @ b, (A34, B42)),
    "matmul_vec_left": (lambda v, a: v @ a.T, (V4, A34)),
    "matmul_mat_vec": (lambda a, v: a @ v, (A34, V4)),
    "matmul_batched": (lambda c, b: c @ b, (C234, B42)),
    "inner_vv": (lambda v, w: np.inner(v, w), (V4, W4)),
    "inner_mm": (lambda a, b: np.inner(a, b), (A34, B34)),
    "outer": (lambda v, w: np.outer(v, w), (V3, W4)),
    "tensordot_2": (lambda c, d: np.tensordot(c, d, axes=2), (C234, D342)),
    "tensordot_axes": (lambda a, d: np.tensordot(a, d, axes=([0], [0])), (A34, D342)),
    "einsum_mm": (lambda a, b: np.einsum("ij,jk->ik", a, b), (A34, B42)),
    "einsum_trace": (lambda s: np.einsum("ii->", s), (SQ,)),
    "einsum_implicit": (lambda a, b: np.einsum("ij,kj", a, b), (A34, B34)),
    "einsum_ellipsis": (lambda c, v: np.einsum("...j,j->...", c, v), (C234, V4)),
    "einsum_three": (lambda a, b, v: np.einsum("ij,ij,j->i", a, b, v), (A34, B34, V4)),
    "trace": (lambda s: np.trace(s), (SQ,)),
    "trace_offset": (lambda a: np.trace(a, offset=1), (A34,)),
    # shapes
    "reshape": (lambda a: np.reshape(a, (2, 6)), (A34,)),
    "reshape_method": (lambda a: a.reshape(4, -1), (A34,)),
    "ravel": (lambda a: np.ravel(a), (A34,)),
    "ravel_method": (lambda a: a.ravel(), (A34,)),
    "transpose": (lambda c: np.transpose(c, (2, 0, 1)), (C234,)),
    "transpose_T": (lambda a: a.T, (A34,)),
    "swapaxes": (lambda c: np.swapaxes(c, 0, 2), (C234,)),
    "moveaxis": (lambda c: np.moveaxis(c, 0, -1), (C234,)),
    "squeeze": (lambda a: np.squeeze(a[:, None, :1]), (A34,)),
    "squeeze_axis": (lambda a: np.squeeze(a[None], axis=0), (A34,)),
    "expand_dims": (lambda a: np.expand_dims(a, 1), (A34,)),
    "broadcast_to": (lambda v: np.broadcast_to(v, (3, 4)), (V4,)),
    "broadcast_to_col": (lambda v: np.broadcast_to(v[:, None], (3, 2)) * 1.0, (V3,)),
    # joining and splitting
    "concatenate": (lambda a, b: np.concatenate([a, b], axis=1), (A34, B34)),
    "concatenate_axis0": (lambda a, b: np.concatenate([a, np.sin(b), a]), (A34, B34)),
    "concatenate_plain": (lambda a: np.concatenate([a, np.ones((1, 4))]), (A34,)),
    "stack": (lambda a, b: np.stack([a, b], axis=1), (A34, B34)),
    "hstack": (lambda v, w: np.hstack([v, w]), (V3, W4)),
    "vstack": (lambda v, w: np.vstack([v, w]), (V4, W4)),
    "split": (lambda a: np.split(a, 2, axis=1), (A34,)),
    "split_indices": (lambda a: np.split(a, [1, 3], axis=1)[1], (A34,)),
    "flip": (lambda a: np.flip(a), (A34,)),
    "flip_axis": (lambda a: np.flip(a, axis=1), (A34,)),
    "roll": (lambda a: np.roll(a, 2), (A34,)),
    "roll_axis": (lambda a: np.roll(a, -1, axis=1), (A34,)),
    "cumsum": (lambda a: np.cumsum(a), (A34,)),
    "cumsum_axis": (lambda a: np.cumsum(a, axis=1), (A34,)),
    "cumprod": (lambda v: np.cumprod(v), (np.array([0.7, -1.3, 2.1, 0.4, -0.9]),)),
    "cumprod_axis": (lambda a: np.cumprod(a, axis=1), (A34,)),
    "diff": (lambda a: np.diff(a), (A34,)),
    "diff_n2_axis0": (lambda a: np.diff(a, n=2, axis=0), (A34,)),
    "sort": (lambda a: np.sort(a), (A34,)),
    "sort_axis0": (lambda a: np.sort(a, axis=0), (A34,)),
    "sort_none": (lambda a: np.sort(a, axis=None), (A34,)),
    "where": (lambda a, b: np.where(a > b, a, b * b), (A34, B34)),
    "where_plain": (lambda a: np.where(a > 0, a, 0.5), (A34,)),
    "take": (lambda a: np.take(a, [0, 2, 2], axis=1), (A34,)),
    "take_flat": (lambda a: np.take(a, [1, 5, 11]), (A34,)),
    "take_method": (lambda a: a.take([2, 0], axis=0), (A34,)),
    # indexing
    "index_int": (lambda a: a[1], (A34,)),
    "index_slice": (lambda a: a[:, 1:3], (A34,)),
    "index_step_none": (lambda a: a[None, ::2, -1], (A34,)),
    "index_ellipsis": (lambda c: c[..., 0], (C234,)),
    "index_neg_step": (lambda a: a[::-1, 1::2], (A34,)),
    "index_list": (lambda a: a[[0, 2, 2]], (A34,)),
    "index_pairs": (lambda a: a[[0, 1, 2], [1, 3, 1]], (A34,)),
    "index_mixed": (lambda c: c[:, [2, 0], 1:], (C234,)),
    "index_bool": (lambda a: a[a > 0], (A34,)),
    "index_bool_rows": (lambda a: a[np.array([True, False, True])], (A34,)),
    "triu": (lambda s: np.triu(s), (SQ,)),
    "triu_k1": (lambda a: np.triu(a, 1), (A34,)),
    "tril": (lambda s: np.tril(s), (SQ,)),
    "tril_km1": (lambda a: np.tril(a, -1), (A34,)),
    "diag_of_matrix": (lambda a: np.diag(a), (A34,)),
    "diag_of_matrix_k1": (lambda a: np.diag(a, 1), (A34,)),
    "diag_of_vector": (lambda v: np.diag(v), (V3,)),
    "diag_of_vector_k1": (lambda v: np.diag(v, 1), (V3,)),
    "diagonal": (lambda a: np.diagonal(a), (A34,)),
    "diagonal_offset": (lambda c: np.diagonal(c, 1, 1, 2), (C234,)),
    "diagonal_method": (lambda a: a.diagonal(-1), (A34,)),
    # linear algebra
    "norm_vec": (lambda v: np.linalg.norm(v), (V4,)),
    "norm_fro": (lambda a: np.linalg.norm(a), (A34,)),
    "norm_fro_explicit": (lambda a: np.linalg.norm(a, "fro"), (A34,)),
    "norm_ord1": (lambda v: np.linalg.norm(v, 1), (V4,)),
    "norm_ord_inf": (lambda v: np.linalg.norm(v, np.inf), (V4,)),
    "norm_ord3": (lambda v: np.linalg.norm(v, 3), (V4,)),
    "norm_axis1": (lambda a: np.linalg.norm(a, axis=1), (A34,)),
    "norm_matrix_ord1": (lambda a: np.linalg.norm(a, 1), (A34,)),
    "solve_vec": (lambda s, b: np.linalg.solve(s, b), (SQ, V3)),
    "solve_mat": (lambda s, b: np.linalg.solve(s, b), (SQ, RHS)),
    "solve_batched": (lambda s, b: np.linalg.solve(s, b), (SQ_B, RNG.normal(size=(2, 3, 2)))),
    "inv": (lambda s: np.linalg.inv(s), (SQ,)),
    "inv_batched": (lambda s: np.linalg.inv(s), (SQ_B,)),
    "det": (lambda s: np.linalg.det(s), (SQ,)),
    "det_neg": (lambda s: np.linalg.det(s), (-SQ,)),
    "det_batched": (lambda s: np.linalg.det(s), (SQ_B,)),
    "slogdet": (lambda s: np.linalg.slogdet(s)[1], (SQ,)),
    "slogdet_neg": (lambda s: np.linalg.slogdet(s)[1], (-SQ2,)),
    # clip
    "clip": (lambda a: np.clip(a, -0.5, 0.6), (A34,)),
    "clip_method_min": (lambda a: a.clip(min=-0.3), (A34,)),
    "clip_active_bounds": (lambda a, lo, hi: np.clip(a, lo, hi), (V4, np.full(4, -0.2), np.full(4, 0.3))),
    # a composite
    "mlp": (lambda x, w: np.sum(np.tanh(x @ w) ** 2, axis=0) - np.mean(x, axis=1) @ np.ones((3, 2)), (A34, B42)),
}


def _avoid_kinks(args, name):
    """Nudge inputs so that clip bounds / sort ties are not within the finite-difference step."""
    out = []
    for a in args:
        a = np.array(a, dtype=np.float64)
        if "clip" in name:
            for b in (-0.5, 0.6, -0.3, -0.2, 0.3):
                a[np.abs(a - b) < 1e-2] += 0.05
        out.append(a)
    return out


@pytest.mark.parametrize("name", list(STRUCTURAL))
def test_structural_jacfwd(name):
    f, args = STRUCTURAL[name]
    args = _avoid_kinks(args, name)
    argnums = 0 if len(args) == 1 else tuple(range(len(args)))
    check_jacfwd(f, *args, argnums=argnums, rtol=1e-5, atol=1e-6)


def _leaves(tree):
    if isinstance(tree, (list, tuple)):
        return [leaf for t in tree for leaf in _leaves(t)]
    return [np.asarray(tree)]


@pytest.mark.parametrize("name", list(STRUCTURAL))
def test_structural_float32_no_widening(name):
    """float32 in, float32 out (as NumPy gives on plain float32 arrays), for value, tangent, Jacobian."""
    f, args = STRUCTURAL[name]
    args64 = _avoid_kinks(args, name)
    args32 = [a.astype(np.float32) for a in args64]
    expected = {leaf.dtype for leaf in _leaves(f(*args32))}
    argnums = 0 if len(args) == 1 else tuple(range(len(args)))
    y, t = ad.jvp(f, tuple(args32), tuple(np.ones_like(a) for a in args32))
    assert {leaf.dtype for leaf in _leaves(y)} == expected, "value dtype"
    assert {leaf.dtype for leaf in _leaves(t)} == expected, "tangent dtype"
    J32 = ad.jacfwd(f, argnums=argnums)(*args32)
    assert {leaf.dtype for leaf in _leaves(J32)} == expected, "Jacobian dtype"
    J64 = ad.jacfwd(f, argnums=argnums)(*args64)
    for a, b in zip(_leaves(J32), _leaves(J64)):
        np.testing.assert_allclose(a, b, rtol=2e-3, atol=2e-3)


# nonlinear ops whose second derivatives (forward over forward) are checked against
# finite differences of the first derivative
NESTED = [
    "prod", "prod_axis0", "max_axis1", "var_axis0_ddof1", "std_axis1", "dot_mm", "matmul_batched",
    "einsum_three", "cumprod", "sort", "where", "index_pairs", "norm_fro", "norm_ord3",
    "solve_vec", "solve_mat", "solve_batched", "inv", "inv_batched", "det", "det_batched",
    "slogdet", "clip_active_bounds", "mlp",
]


@pytest.mark.parametrize("name", NESTED)
def test_structural_second_derivative(name):
    f, args = STRUCTURAL[name]
    args = _avoid_kinks(args, name)
    first = lambda *a: ad.jacfwd(f, argnums=0)(*a)
    check_jacfwd(first, *args, argnums=0, rtol=1e-4, atol=1e-5)


def test_solve_broadcast_rhs():
    """np.linalg.solve broadcasts a (3, 3) matrix against a stack of right-hand sides."""
    b = RNG.normal(size=(2, 3, 2))
    check_jacfwd(lambda s, b: np.linalg.solve(s, b), SQ, b, argnums=(0, 1))


def test_det_singular_matrix():
    """det is a polynomial: its derivative at a singular matrix is the transposed adjugate."""
    s = np.array([[1.0, 2.0], [2.0, 4.0]])
    J = ad.jacfwd(np.linalg.det)(s)
    np.testing.assert_allclose(J, [[4.0, -2.0], [-2.0, 1.0]], atol=1e-12)


def test_slogdet_sign_is_plain():
    def f(s):
        sign, logabs = np.linalg.slogdet(s)
        assert not isinstance(sign, ad.Dual)
        return logabs * sign

    check_jacfwd(f, -SQ2)


def test_ufunc_reduce_and_accumulate():
    check_jacfwd(lambda a: np.add.reduce(a, axis=1), A34)
    check_jacfwd(lambda a: np.multiply.reduce(a, axis=0), A34)
    check_jacfwd(lambda a: np.maximum.reduce(a, axis=1), A34)
    check_jacfwd(lambda a: np.add.accumulate(a, axis=1), A34)


# --------------------------------------------------------------------------------------------
# (c) item assignment


def _assign(x):
    y = np.zeros(3) * x[0]
    y[1] = x[1] ** 2
    y[[0, 2]] = x[2]
    return y


def test_item_assignment_differentiates():
    x = np.array([1.5, -2.0, 0.7])
    np.testing.assert_allclose(_assign(x), [0.7, 4.0, 0.7])
    J = ad.jacfwd(_assign)(x)
    np.testing.assert_allclose(J, [[0.0, 0.0, 1.0], [0.0, -4.0, 0.0], [0.0, 0.0, 1.0]], atol=0)
    check_jacfwd(_assign, x)


def test_item_assignment_slices_and_masks():
    def f(x):
        y = np.ones((2, 3)) * x[0]
        y[0, 1:] = np.sin(x[1:3])
        y[1] = y[1] * x[3]
        y[y > 100.0] = 0.0  # mask of plain booleans
        y[:, 0] += x[2]
        return y

    check_jacfwd(f, np.array([0.3, 1.1, -0.4, 2.0]))


def test_item_assignment_does_not_touch_input():
    x = np.array([1.0, 2.0, 3.0])

    def f(x):
        z = x * 1.0
        w = z
        z[0] = 5.0 * x[1]
        return w + z  # w aliases z: both see the write, as in NumPy

    J = ad.jacfwd(f)(x)
    np.testing.assert_allclose(J, [[0.0, 10.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 2.0]])
    np.testing.assert_array_equal(x, [1.0, 2.0, 3.0])


@pytest.mark.parametrize(
    "write",
    [
        lambda y, x: y.__setitem__(0, x[0]),
        lambda y, x: y.__setitem__(slice(0, 2), x[:2]),
        lambda y, x: y.__setitem__([0, 2], x[1:]),
    ],
    ids=["element", "slice", "fancy"],
)
def test_writing_dual_into_plain_array_raises(write):
    def f(x):
        y = np.zeros(3)
        write(y, x)
        return y

    x = np.array([1.0, 2.0, 3.0])
    with pytest.raises(TypeError, match=r"y = np\.zeros_like\(x\)"):
        ad.jacfwd(f)(x)
    with pytest.raises(TypeError, match=r"dualad\.primal"):
        ad.jvp(f, (x,), (np.ones(3),))


# --------------------------------------------------------------------------------------------
# (d) pytrees


def test_jvp_pytree_mirrors_structure():
    x, y, z = RNG.normal(size=3), RNG.normal(size=(2, 3)), RNG.normal()

    def f(d, lst):
        a, b = d["x"], d["y"]
        c = lst[0]
        return {"u": np.sin(a) * c, "v": (b @ a, [np.sum(b) * c])}

    tx, ty, tz = RNG.normal(size=3), RNG.normal(size=(2, 3)), RNG.normal()
    out, tout = ad.jvp(f, ({"x": x, "y": y}, [z]), ({"x": tx, "y": ty}, [tz]))
    assert set(out) == {"u", "v"} and set(tout) == {"u", "v"}
    assert isinstance(tout["v"], tuple) and isinstance(tout["v"][1], list)
    np.testing.assert_allclose(out["u"], np.sin(x) * z)
    np.testing.assert_allclose(tout["u"], np.cos(x) * tx * z + np.sin(x) * tz)
    np.testing.assert_allclose(tout["v"][0], ty @ x + y @ tx)
    np.testing.assert_allclose(tout["v"][1][0], np.sum(ty) * z + np.sum(y) * tz)


def test_jacfwd_pytree_shapes():
    x, y = RNG.normal(size=3), RNG.normal(size=(2, 3))

    def f(d):
        return (d["x"] * 2.0, {"s": np.sum(d["y"] * d["x"]), "m": d["y"] @ d["x"]})

    J = ad.jacfwd(f)({"x": x, "y": y})
    assert isinstance(J, tuple) and len(J) == 2 and isinstance(J[1], dict)
    assert set(J[0]) == {"x", "y"}
    assert J[0]["x"].shape == (3, 3) and J[0]["y"].shape == (3, 2, 3)
    assert J[1]["s"]["x"].shape == (3,) and J[1]["s"]["y"].shape == (2, 3)
    assert J[1]["m"]["x"].shape == (2, 3) and J[1]["m"]["y"].shape == (2, 2, 3)
    np.testing.assert_allclose(J[0]["x"], 2.0 * np.eye(3))
    np.testing.assert_allclose(J[0]["y"], 0.0)
    np.testing.assert_allclose(J[1]["s"]["x"], y.sum(axis=0))
    np.testing.assert_allclose(J[1]["s"]["y"], np.broadcast_to(x, (2, 3)))
    np.testing.assert_allclose(J[1]["m"]["x"], y)
    expected_my = np.zeros((2, 2, 3))
    expected_my[0, 0], expected_my[1, 1] = x, x
    np.testing.assert_allclose(J[1]["m"]["y"], expected_my)


def test_jacfwd_list_input_and_output():
    a, b = RNG.normal(size=2), RNG.normal(size=(2, 2))
    J = ad.jacfwd(lambda lst: [lst[1] @ lst[0], np.prod(lst[0])])([a, b])
    assert isinstance(J, list) and len(J) == 2
    assert isinstance(J[0], list) and J[0][0].shape == (2, 2) and J[0][1].shape == (2, 2, 2)
    assert J[1][0].shape == (2,) and J[1][1].shape == (2, 2)
    np.testing.assert_allclose(J[0][0], b)
    np.testing.assert_allclose(J[1][0], [a[1], a[0]])
    np.testing.assert_allclose(J[1][1], 0.0)


def test_jacobian_shape_is_sout_plus_sin():
    x = RNG.normal(size=(2, 3))
    J = ad.jacfwd(lambda x: np.outer(x[0], x[1]))(x)  # (3, 3) out, (2, 3) in
    assert J.shape == (3, 3, 2, 3)
    J0 = ad.jacfwd(lambda x: np.sum(x))(np.array(1.5))
    assert np.shape(J0) == ()
    Js = ad.jacfwd(lambda s: s * np.arange(4.0))(2.0)
    assert Js.shape == (4,)
    np.testing.assert_allclose(Js, np.arange(4.0))


def test_jacfwd_argnums_tuple():
    x, c, z = RNG.normal(size=3), 1.7, RNG.normal(size=2)

    def f(x, c, z):
        return np.outer(x, z) * c

    J = ad.jacfwd(f, argnums=(0, 2))(x, c, z)
    assert isinstance(J, tuple) and len(J) == 2
    assert J[0].shape == (3, 2, 3) and J[1].shape == (3, 2, 2)
    check_jacfwd(f, x, c, z, argnums=(0, 1, 2))
    Jneg = ad.jacfwd(f, argnums=-1)(x, c, z)
    np.testing.assert_allclose(Jneg, J[1])


# --------------------------------------------------------------------------------------------
# (e) errors and dtypes


@pytest.mark.parametrize(
    "escape",
    [float, int, lambda v: v.item(), np.asarray, bool, lambda v: np.array(v)],
    ids=["float", "int", "item", "asarray", "bool", "array"],
)
def test_escapes_raise_and_name_primal(escape):
    """Each way out raises when its result is computed with (np.asarray/np.array of an active
    value give escaped elements, which refuse to compute)."""
    def f(x):
        escape(x[0]) * 1.0
        return x

    with pytest.raises(TypeError, match=r"dualad\.primal"):
        ad.jvp(f, (np.array([1.0, 2.0]),), (np.ones(2),))
    with pytest.raises(TypeError, match=r"dualad\.primal"):
        escape(ad.Dual(1.0, 1.0)) * 1.0


def test_primal_is_the_explicit_way_out():
    def f(x):
        assert float(ad.primal(x[0])) == 1.0
        return x * 2.0

    ad.jacfwd(f)(np.array([1.0, 2.0]))


@pytest.mark.parametrize(
    "func, name",
    [(lambda x: np.histogramdd(x[:, None], weights=x), "histogramdd"), (lambda x: np.histogram2d(x, x, weights=x), "histogram2d"),
     (np.spacing, "spacing")],
    ids=["histogramdd", "histogram2d", "spacing"],
)
def test_function_without_rule_raises_naming_it(func, name):
    with pytest.raises(TypeError, match=name):
        ad.jacfwd(lambda x: func(x.reshape(2, 2) if name == "eig" else x))(np.arange(1.0, 5.0))


def test_ufunc_without_rule_raises_naming_it():
    with pytest.raises(TypeError, match="spacing"):
        ad.jacfwd(np.spacing)(np.arange(1.0, 4.0))


def test_complex_inputs_follow_jax():
    z = np.array([1.0 + 2.0j, 0.5 - 1.0j])
    with pytest.raises(TypeError, match="jacfwd requires real-valued inputs"):
        ad.jacfwd(lambda x: x * 2.0)(z)
    np.testing.assert_allclose(ad.jacfwd(lambda x: x * 2.0, holomorphic=True)(z), 2.0 * np.eye(2))
    y, t = ad.jvp(lambda x: x * 2.0, (z,), (np.ones(2),))   # a real direction of a complex input
    np.testing.assert_allclose(t, [2.0, 2.0])
    np.testing.assert_allclose(ad.derivative(np.sin)(1.0 + 1.0j), np.cos(1.0 + 1.0j))
    np.testing.assert_allclose(ad.jacfwd(lambda x: x * (1.0 + 1.0j))(np.ones(2)), (1.0 + 1.0j) * np.eye(2))


@pytest.mark.parametrize("x", [np.array([1, 2, 3]), np.array([True, False, True]), 3, True])
def test_int_and_bool_inputs_promote_to_float64(x):
    J = ad.jacfwd(lambda x: x * 2.5 + x * x)(x)
    assert J.dtype == np.float64
    xf = np.asarray(x, dtype=np.float64)
    np.testing.assert_allclose(J, np.diag(2.5 + 2 * xf.ravel()).reshape(xf.shape * 2) if xf.ndim else 2.5 + 2 * xf)
    y, t = ad.jvp(lambda x: np.sin(x), (x,), (np.ones(np.shape(x), dtype=np.asarray(x).dtype),))
    assert np.asarray(y).dtype == np.float64 and np.asarray(t).dtype == np.float64
    np.testing.assert_allclose(t, np.cos(xf))


def _f32_fn(x):
    w = np.arange(6, dtype=np.float32).reshape(3, 2)
    return np.concatenate([np.tanh(x @ w) * 2.0, np.sum(np.exp(x) ** 2, keepdims=True) / 3.0, np.sort(x)[:1]])


def test_float32_stays_float32():
    x = np.array([0.1, -0.4, 0.25], dtype=np.float32)
    y, t = ad.jvp(_f32_fn, (x,), (np.ones(3, np.float32),))
    assert y.dtype == np.float32 and t.dtype == np.float32
    J = ad.jacfwd(_f32_fn)(x)
    assert J.dtype == np.float32 and J.shape == (4, 3)
    J64 = ad.jacfwd(_f32_fn)(x.astype(np.float64))
    assert J64.dtype == np.float64
    np.testing.assert_allclose(J, J64, rtol=1e-5, atol=1e-6)
    d = ad.derivative(np.sin, order=2)(np.float32(0.5))
    assert np.asarray(d).dtype == np.float32
    assert ad.Dual(x, np.ones(3, np.float32)).dtype == np.float32


@pytest.mark.parametrize("dtype,rtol", [(np.float16, 2e-2), (np.longdouble, 1e-12), (np.clongdouble, 1e-12)])
@pytest.mark.parametrize("n", [5, 600])  # NumPy on small arrays; the kernels' size, where NumPy evaluates these dtypes too
def test_float16_and_longdouble_keep_their_dtype(dtype, rtol, n):
    """The kernels compile for float32/float64 and complex64/complex128; other float dtypes are
    evaluated with NumPy at every size and keep their dtype, in both modes and nested."""
    x = (np.linspace(-1.0, 1.0, n) + (0.3j if np.dtype(dtype).kind == "c" else 0.0)).astype(dtype)
    f = lambda z: np.real(np.sum(np.sin(z) ** 2 * np.exp(z / 4.0)))
    x64 = x.astype(np.complex128 if np.dtype(dtype).kind == "c" else np.float64)
    g = ad.grad(f)(x)
    assert g.dtype == dtype
    np.testing.assert_allclose(g.astype(np.complex128), ad.grad(f)(x64), rtol=rtol, atol=rtol)
    if np.dtype(dtype).kind == "f":
        y, t = ad.jvp(f, (x,), (np.ones(n, dtype),))
        assert t.dtype == dtype
        np.testing.assert_allclose(float(t), float(ad.jvp(f, (x64,), (np.ones(n),))[1]), rtol=rtol * 10)
        h = ad.hvp(f, x, np.ones(n, dtype))
        assert h.dtype == dtype
        np.testing.assert_allclose(h.astype(float), ad.hvp(f, x64, np.ones(n)), rtol=rtol * 10, atol=rtol * 10)


def test_tangent_shape_mismatch():
    with pytest.raises(ValueError):
        ad.jvp(np.sin, (np.ones(3),), (np.ones(2),))
    with pytest.raises(ValueError):
        ad.jvp(np.sin, (np.ones((2, 3)),), (np.ones((3, 2)),))
    with pytest.raises(ValueError):
        ad.Dual(np.ones(3), np.ones((2, 2)))
    with pytest.raises(ValueError):
        ad.jvp(lambda a, b: a + b, (np.ones(2), np.ones(2)), (np.ones(2),))


def test_lane_count_mismatch():
    with pytest.raises(ValueError):
        ad.Dual(np.ones(3), np.ones((2, 3))) + ad.Dual(np.ones(3), np.ones((4, 3)))


# --------------------------------------------------------------------------------------------
# (f) nesting and perturbation confusion

D = ad.derivative


def test_perturbation_confusion_add():
    assert D(lambda x: x * D(lambda y: x + y)(1.0))(1.0) == 1.0


def test_perturbation_confusion_mul():
    assert D(lambda x: x * D(lambda y: x * y)(2.0))(1.0) == 2.0


def test_fifth_derivative_of_sin():
    np.testing.assert_allclose(D(np.sin, order=5)(0.3), np.cos(0.3), rtol=1e-14)
    np.testing.assert_allclose(D(D(D(D(D(np.sin)))))(0.3), np.cos(0.3), rtol=1e-14)


@pytest.mark.parametrize("x", [2.0, -1.5, 0.0, np.array([0.5, 1.0, 3.0])])
def test_third_derivative_of_x4(x):
    np.testing.assert_allclose(D(lambda x: x**4, order=3)(x), 24.0 * np.asarray(x), rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(D(lambda x: x * x * x * x, order=3)(x), 24.0 * np.asarray(x), rtol=1e-13, atol=1e-13)


def _rosen(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def test_rosenbrock_hessian_forward_over_forward():
    x = RNG.uniform(-1.5, 1.5, size=6)
    np.testing.assert_allclose(ad.jacfwd(_rosen)(x), scipy.optimize.rosen_der(x), rtol=1e-12, atol=1e-10)
    H = ad.jacfwd(ad.jacfwd(_rosen))(x)
    assert H.shape == (6, 6)
    np.testing.assert_allclose(H, scipy.optimize.rosen_hess(x), rtol=1e-12, atol=1e-10)


def test_nested_jacfwd_of_structural_ops():
    x = RNG.normal(size=3)

    def f(x):
        M = np.outer(x, x) + 3.0 * np.eye(3)
        return np.linalg.slogdet(M)[1] + np.sum(np.sort(x) * np.arange(3.0))

    H = ad.jacfwd(ad.jacfwd(f))(x)
    H_fd = np.stack(
        [(ad.jacfwd(f)(x + 1e-6 * e) - ad.jacfwd(f)(x - 1e-6 * e)) / 2e-6 for e in np.eye(3)], axis=-1
    )
    np.testing.assert_allclose(H, H_fd, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(H, H.T, rtol=1e-12, atol=1e-12)


def test_nested_closure_over_outer_dual():
    # d/dx [ d/dy (sin(x*y)) at y=1 ] = d/dx [x cos(x)] = cos(x) - x sin(x)
    x0 = 0.7
    got = D(lambda x: D(lambda y: np.sin(x * y))(1.0))(x0)
    np.testing.assert_allclose(got, np.cos(x0) - x0 * np.sin(x0), rtol=1e-14)


# --------------------------------------------------------------------------------------------
# (g) non-differentiable points and strong zeros


def test_nondiff_table():
    assert D(ad.relu)(0.0) == 0.0
    assert D(ad.relu)(2.0) == 1.0
    assert D(np.abs)(0.0) == 0.0
    assert D(np.absolute)(-0.0) == 0.0
    J = ad.jacfwd(lambda x: np.maximum(x[0], x[1]))(np.array([1.0, 1.0]))
    np.testing.assert_array_equal(J, [0.5, 0.5])
    J = ad.jacfwd(lambda x: np.minimum(x[0], x[1]))(np.array([1.0, 1.0]))
    np.testing.assert_array_equal(J, [0.5, 0.5])
    J = ad.jacfwd(lambda x: np.maximum(x, 0.0))(np.array([0.0, 1.0]))  # relu via maximum: tie
    np.testing.assert_array_equal(J, np.diag([0.5, 1.0]))
    d = D(np.sqrt)(0.0)
    assert np.isposinf(d)
    for fn in (np.floor, np.ceil, np.rint, np.trunc, np.sign):
        for x0 in (0.0, 1.0, -2.0, 0.5, 1.3):
            assert D(fn)(x0) == 0.0, fn.__name__


def test_strong_zero_x_sqrt_x():
    assert D(lambda x: x * np.sqrt(x))(0.0) == 0.0
    J = ad.jacfwd(lambda x: x * np.sqrt(x))(np.array([0.0, 4.0]))
    np.testing.assert_allclose(J, np.diag([0.0, 3.0]))


def test_where_unselected_branch_has_no_nan():
    J = ad.jacfwd(lambda x: np.where(x > 0, np.sqrt(x), 0.0))(np.array([-1.0, 4.0]))
    assert not np.isnan(J).any()
    np.testing.assert_allclose(J, [[0.0, 0.0], [0.0, 0.25]])
    J = ad.jacfwd(lambda x: np.where(x > 0, np.log(x), x))(np.array([-1.0, 0.0, 2.0]))
    assert not np.isnan(J).any()
    np.testing.assert_allclose(J, np.diag([1.0, 1.0, 0.5]))

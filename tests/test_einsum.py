"""np.einsum on active values: every form NumPy accepts, against NumPy and the product rule.

einsum is multilinear, so its exact derivative is known independently of dualad: the tangent
is the sum over operands of np.einsum with that operand replaced by its tangent, and the
pullback must satisfy <ct, J t> = <J^T ct, t>.
"""

from __future__ import annotations

import string

import numpy as np
import pytest
from helpers import fd_jacobian
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dualad as ad

# --------------------------------------------------------------------------------------------
# The reported forms


def test_ellipses_of_different_rank_in_the_middle():
    A = np.arange(4.0).reshape(2, 2) + 1
    B = np.arange(8.0).reshape(2, 2, 2) + 1
    spec = "j...k,lj...->lk..."
    ref = np.einsum(spec, A, B)
    f = lambda A: np.einsum(spec, A, B)  # noqa: E731
    y, ydot = ad.jvp(f, (A,), (np.ones_like(A),))
    np.testing.assert_allclose(y, ref)
    np.testing.assert_allclose(ydot, np.einsum(spec, np.ones_like(A), B))
    J = fd_jacobian(f, [A], 0)
    np.testing.assert_allclose(ad.jacfwd(f)(A), J, atol=1e-7)
    np.testing.assert_allclose(ad.jacrev(f)(A), J, atol=1e-7)


def test_trailing_ellipsis():
    rng = np.random.default_rng(0)
    A, B = rng.standard_normal((2, 3, 4)), rng.standard_normal((3, 2, 4))
    spec = "ij...,jk...->ik..."
    f = lambda A, B: np.einsum(spec, A, B)  # noqa: E731
    np.testing.assert_allclose(ad.jvp(f, (A, B), (A, B))[0], np.einsum(spec, A, B))
    gA, gB = ad.grad(lambda A, B: np.sum(f(A, B) ** 2), argnums=(0, 1))(A, B)
    np.testing.assert_allclose(gA, fd_jacobian(lambda A: np.sum(f(A, B) ** 2), [A], 0), rtol=1e-6)
    np.testing.assert_allclose(gB, fd_jacobian(lambda B: np.sum(f(A, B) ** 2), [B], 0), rtol=1e-6)


def test_sublist_form_and_keywords():
    rng = np.random.default_rng(1)
    A, B = rng.standard_normal((2, 3)), rng.standard_normal((3, 4))
    f = lambda A: np.einsum(A, [0, 1], B, [1, 2], [0, 2], optimize=True)  # noqa: E731
    np.testing.assert_allclose(ad.jacfwd(f)(A), ad.jacrev(f)(A))
    np.testing.assert_allclose(ad.jvp(f, (A,), (A,))[1], A @ B)
    g = lambda A: np.einsum(A, [Ellipsis, 1], B, [1, 2])  # noqa: E731
    np.testing.assert_allclose(ad.jvp(g, (A,), (A,))[0], A @ B)
    y = ad.jvp(lambda A: np.einsum("ij,jk", A, B, dtype=np.float32, casting="same_kind"), (A,), (A,))[0]
    assert y.dtype == np.float32
    with pytest.raises(TypeError, match="casting"):
        ad.jvp(lambda A: np.einsum("ij,jk", A, B, dtype=np.float32), (A,), (A,))
    with pytest.raises(TypeError, match="unexpected keyword|got an unexpected"):
        ad.jvp(lambda A: np.einsum("ij,jk", A, B, nonsense=1), (A,), (A,))


@pytest.mark.parametrize(
    "spec, shapes, match",
    [
        ("ij,jk->ik", [(2, 3)], "2 operand"),
        ("ij->ii", [(2, 2)], "repeat"),
        ("ij->k", [(2, 2)], "does not appear"),
        ("i...,i->i", [(2, 3), (2,)], r"no '\.\.\.'"),
        ("ij,jk->ik", [(2, 3), (4, 5)], "size"),
        ("ijk", [(2, 3)], "axes"),
        ("i$", [(2, 3)], "character"),
        ("ii", [(2, 3)], "repeats label"),
    ],
)
def test_refusals_name_the_problem(spec, shapes, match):
    ops = [np.ones(s) for s in shapes]
    with pytest.raises(ValueError):
        np.einsum(spec, *ops)  # NumPy refuses these too
    with pytest.raises(ValueError, match=match):
        ad.jvp(lambda *a: np.einsum(spec, *a), tuple(ops), tuple(ops))


def test_float32_stays_float32():
    A = np.ones((2, 3), np.float32)
    B = np.ones((3, 4), np.float32)
    y, t = ad.jvp(lambda A: np.einsum("...j,jk", A, B), (A,), (A,))
    assert y.dtype == np.float32 and t.dtype == np.float32
    assert ad.grad(lambda A: np.sum(np.einsum("ij,jk->", A, B)))(A).dtype == np.float32


# --------------------------------------------------------------------------------------------
# Generated subscripts

LABELS = string.ascii_letters


@st.composite
def einsum_cases(draw):
    nops = draw(st.integers(1, 3))
    pool = draw(st.lists(st.sampled_from(LABELS), min_size=1, max_size=5, unique=True))
    size = {lab: draw(st.integers(1, 3)) for lab in pool}
    width = draw(st.integers(0, 2))
    ell = tuple(draw(st.integers(1, 3)) for _ in range(width))
    terms, shapes = [], []
    for _ in range(nops):
        labels = draw(st.lists(st.sampled_from(pool), max_size=3))
        has_ell = width > 0 and draw(st.booleans())
        shape_of = {}
        for lab in labels:  # a repeated label keeps one size within the operand
            shape_of.setdefault(lab, 1 if draw(st.integers(0, 5)) == 0 else size[lab])
        dims = [shape_of[lab] for lab in labels]
        term = "".join(labels)
        if has_ell:
            rank = draw(st.integers(0, width))
            edims = [1 if draw(st.integers(0, 4)) == 0 else d for d in ell[width - rank:]]
            pos = draw(st.integers(0, len(labels)))
            term = term[:pos] + "..." + term[pos:]
            dims = dims[:pos] + edims + dims[pos:]
        terms.append(term)
        shapes.append(tuple(dims))
    if draw(st.booleans()):
        spec = ",".join(terms)
    else:
        present = sorted({ch for t in terms for ch in t.replace("...", "")})
        out = draw(st.permutations(present))
        out = list(out[: draw(st.integers(0, len(out)))])
        if any("..." in t for t in terms) and draw(st.integers(0, 5)) > 0:
            out.insert(draw(st.integers(0, len(out))), "...")
        spec = ",".join(terms) + "->" + "".join(out)
    sublist = draw(st.booleans())
    seed = draw(st.integers(0, 2**16))
    return spec, shapes, sublist, seed


def _sublist_args(spec, ops):
    ins, _, out = spec.partition("->")

    def conv(term):
        head, dots, tail = term.partition("...")
        return [LABELS.index(c) if c.isupper() else 26 + string.ascii_lowercase.index(c) for c in head] + (
            [Ellipsis] if dots else []
        ) + [LABELS.index(c) if c.isupper() else 26 + string.ascii_lowercase.index(c) for c in tail]

    args = []
    for term, op in zip(ins.split(","), ops):
        args += [op, conv(term)]
    if "->" in spec:
        args.append(conv(out))
    return args


def _call(spec, ops, sublist):
    return np.einsum(*_sublist_args(spec, ops)) if sublist else np.einsum(spec, *ops)


@given(einsum_cases())
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_generated_einsum_matches_numpy_and_the_product_rule(case):
    spec, shapes, sublist, seed = case
    rng = np.random.default_rng(seed)
    ops = [rng.standard_normal(s) for s in shapes]
    try:
        ref = _call(spec, ops, sublist)
    except ValueError:
        with pytest.raises(ValueError):
            ad.jvp(lambda *a: _call(spec, a, sublist), tuple(ops), tuple(ops))
        return
    f = lambda *a: _call(spec, a, sublist)  # noqa: E731
    tangents = [rng.standard_normal(s) for s in shapes]
    y, ydot = ad.jvp(f, tuple(ops), tuple(tangents))
    np.testing.assert_allclose(y, ref, rtol=1e-12, atol=1e-12)
    expected = sum(_call(spec, ops[:i] + [t] + ops[i + 1:], sublist) for i, t in enumerate(tangents))
    np.testing.assert_allclose(ydot, expected, rtol=1e-10, atol=1e-10)
    y2, pullback = ad.vjp(f, *ops)
    ct = rng.standard_normal(np.shape(ref))
    cts = pullback(ct)
    lhs = float(np.sum(ct * ydot))
    rhs = sum(float(np.sum(c * t)) for c, t in zip(cts, tangents))
    np.testing.assert_allclose(lhs, rhs, rtol=1e-9, atol=1e-9)
    if ops[0].size and np.size(ref):
        g = lambda a: f(a, *ops[1:])  # noqa: E731
        np.testing.assert_allclose(ad.jacfwd(g)(ops[0]), ad.jacrev(g)(ops[0]), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    "spec, shapes",
    [
        ("...ij,...jk->...ik", [(2, 1, 2, 3), (5, 3, 2)]),
        ("ii->i", [(3, 3)]),
        ("ij,ij->ij", [(1, 3), (2, 3)]),
        ("Ab,ba", [(2, 3), (3, 2)]),
        ("i...,...->...i", [(2, 3), ()]),
        (",ij->ij", [(), (2, 2)]),
    ],
)
def test_forms_against_finite_differences(spec, shapes):
    rng = np.random.default_rng(2)
    ops = [rng.standard_normal(s) for s in shapes]
    for k in range(len(ops)):
        def f(x, k=k):
            a = list(ops)
            a[k] = x
            return np.einsum(spec, *a)

        J = fd_jacobian(f, [ops[k]], 0)
        np.testing.assert_allclose(ad.jacrev(f)(ops[k]), J, atol=1e-7)
        np.testing.assert_allclose(ad.jacfwd(f)(ops[k]), J, atol=1e-7)

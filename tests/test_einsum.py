"""np.einsum on active values: every form NumPy accepts, against NumPy and the product rule.

einsum is multilinear, so its exact derivative is known independently of dualad: the tangent
is the sum over operands of np.einsum with that operand replaced by its tangent, and the
pullback must satisfy <ct, J t> = <J^T ct, t>.
"""

from __future__ import annotations

import string

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dualad as ad
from dualad.core import einsum_spec
from tests.helpers import fd_jacobian

# --------------------------------------------------------------------------------------------
# The reported forms (issue 13, item 1)

RNG = np.random.default_rng(0)
REPORTED = [
    # ellipses of different rank, not at the front: once off by 12 in every mode
    ("j...k,lj...->lk...", [np.arange(4.0).reshape(2, 2) + 1, np.arange(8.0).reshape(2, 2, 2) + 1]),
    # trailing ellipses: once a crash
    ("ij...,jk...->ik...", [RNG.standard_normal((2, 3, 4)), RNG.standard_normal((3, 2, 4))]),
]


@pytest.mark.parametrize("spec, ops", REPORTED)
def test_reported_forms_in_every_mode(spec, ops):
    ref = np.einsum(spec, *ops)
    for k in range(2):
        def f(x, k=k):
            a = list(ops)
            a[k] = x
            return np.einsum(spec, *a)

        x, t = ops[k], np.ones_like(ops[k])
        y, ydot = ad.jvp(f, (x,), (t,))
        np.testing.assert_allclose(y, ref, rtol=1e-13)
        np.testing.assert_allclose(ydot, f(t), rtol=1e-13)  # linear in each operand
        J = fd_jacobian(f, [x], 0)
        np.testing.assert_allclose(ad.jacfwd(f)(x), J, rtol=1e-7, atol=1e-7)
        np.testing.assert_allclose(ad.jacrev(f)(x), J, rtol=1e-7, atol=1e-7)
        g = ad.grad(lambda x, f=f: np.sum(np.sin(f(x))))(x)  # chain rule through the Jacobian
        np.testing.assert_allclose(g, np.tensordot(np.cos(ref), J, axes=ref.ndim), rtol=1e-6, atol=1e-7)


def test_reported_value_is_numpys():
    """The primal value itself, straight from the issue's reproducer."""
    spec, (A, B) = REPORTED[0]
    y = ad.jvp(lambda A: np.einsum(spec, A, B), (A,), (np.ones_like(A),))[0]
    np.testing.assert_array_equal(y, np.einsum(spec, A, B))


# --------------------------------------------------------------------------------------------
# NumPy behaviours matched one by one

O = np.ones


@pytest.mark.parametrize(
    "args",
    [
        ("ba,Ab", O((2, 3)), O((4, 2))),  # implicit output: upper case before lower case
        ("Ba", O((2, 3))),
        ("aB", O((2, 3))),
        ("ij,ij->ij", O((1, 3)), O((2, 3))),  # a labelled size-1 axis broadcasts
        ("ij,ij", O((1, 3)), O((2, 3))),
        ("ii,i->i", O((1, 1)), O(3)),  # ... also on a diagonal of size 1
        ("i...,i->i", O((2,)), O(2)),  # '...' of rank 0 needs no '...' in the output
        ("i...->", O((2,))),
        ("ij->...ij", O((2, 3))),  # '...' in the output only: nothing
        ("ij->i...j", O((2, 3))),
        ("...ij,...jk", O((2, 1, 2, 3)), O((5, 3, 2))),  # '...' of different ranks
        ("i...j,k...->...ijk", O((2, 3, 4, 5)), O((6, 1, 4))),
        ("...i,...i->...", O((0, 3)), O((1, 3))),  # size 0 against size 1
        ("i j -> j i", O((2, 3))),  # spaces
        ("", O(())),  # scalars
        ("->", O(())),
        (",ij", O(()), O((2, 2))),
        ("iij->ji", O((2, 2, 3))),  # diagonals, one operand
        ("...ii->...i", O((3, 2, 2))),
        ("iji,jk->", O((1, 3, 1)), O((3, 4))),
        (b"ij->j", O((2, 3))),  # bytes subscripts
        (O((2, 3)), [np.int64(0), 1]),  # sublists: NumPy integers, tuples, implicit output
        (O((2, 3)), (0, 1), (Ellipsis,)),
        (O((2, 3)), [27, 0], O((3,)), [0]),
        (O((2, 3)), [Ellipsis, 30], O((3, 4)), [30, 2], [2, Ellipsis]),
        (O(3), [0], O(3), [0], [0], [0]),  # an even count: the last pair is one more operand
    ],
)
def test_numpy_forms(args):
    args = [RNG.standard_normal(a.shape) if isinstance(a, np.ndarray) else a for a in args]
    pos = [i for i, a in enumerate(args) if isinstance(a, np.ndarray) and a.dtype.kind == "f"]

    def f(*xs):
        a = list(args)
        for i, x in zip(pos, xs):
            a[i] = x
        return np.einsum(*a)

    ref = f(*[args[i] for i in pos])
    xs = tuple(args[i] for i in pos)
    y, ydot = ad.jvp(f, xs, xs)
    assert np.shape(y) == np.shape(ref)
    np.testing.assert_allclose(y, ref, rtol=1e-13)
    np.testing.assert_allclose(ydot, len(xs) * ref, rtol=1e-12, atol=1e-12)  # homogeneous
    J = ad.jacrev(lambda x: f(x, *xs[1:]))(xs[0])
    np.testing.assert_allclose(J, ad.jacfwd(lambda x: f(x, *xs[1:]))(xs[0]), rtol=1e-13, atol=1e-13)


def test_canonical_form():
    """'...' axes get letters the user did not use; labelled size-1 axes are broadcast."""
    form = einsum_spec.canonical("A...,a", [(2, 3, 4), (5,)])
    assert form.subscripts == "ABC,a->BCAa"
    assert form.broadcast == [None, None]
    form = einsum_spec.canonical("...i,i...->...", [(1, 3), (3, 2)])
    assert form.subscripts == "Ai,iA->A"
    assert form.broadcast == [(2, 3), None]
    assert einsum_spec.split_arguments((1.0, [0, Ellipsis], 2.0, [51])) == ("A...,z", (1.0, 2.0))


def test_keywords():
    A, B = RNG.standard_normal((2, 3)), RNG.standard_normal((3, 4))
    for opt in (True, "greedy", ["einsum_path", (0, 1)]):  # changes no value
        f = lambda A, opt=opt: np.einsum(A, [0, 1], B, [1, 2], [0, 2], optimize=opt)
        np.testing.assert_allclose(ad.jvp(f, (A,), (A,))[1], A @ B)
    for order in ("C", "F", "a", None):
        np.testing.assert_allclose(ad.jvp(lambda A: np.einsum("ij,jk", A, B, order=order), (A,), (A,))[0], A @ B)
    y = ad.jvp(lambda A: np.einsum("ij,jk", A, B, dtype=np.float32, casting="same_kind"), (A,), (A,))[0]
    assert y.dtype == np.float32 == np.einsum("ij,jk", A, B, dtype=np.float32, casting="same_kind").dtype
    y = ad.jvp(lambda A: np.einsum("ij,jk", A, B.astype(np.float32), dtype=np.float64), (A,), (A,))[0]
    assert y.dtype == np.float64


# --------------------------------------------------------------------------------------------
# float32


def test_float32_stays_float32():
    A = RNG.standard_normal((2, 3)).astype(np.float32)
    B = RNG.standard_normal((3, 4)).astype(np.float32)
    f = lambda A: np.einsum("...j,jk", A, B)
    assert f(A).dtype == np.float32
    y, t = ad.jvp(f, (A,), (A,))
    assert y.dtype == np.float32 and t.dtype == np.float32
    assert ad.jacfwd(f)(A).dtype == np.float32 and ad.jacrev(f)(A).dtype == np.float32
    assert ad.grad(lambda A: np.einsum("ij,jk->", A, B))(A).dtype == np.float32
    g = lambda A: np.einsum("i...,i->...", A, np.ones(2, np.float32))
    assert ad.jvp(g, (A,), (A,))[0].dtype == np.float32 == g(A).dtype
    # a Python float is an array here (NumPy's einsum takes no weak scalars): float64 as NumPy
    h = lambda A: np.einsum("ij,->ij", A, 2.0)
    assert ad.jvp(h, (A,), (A,))[0].dtype == h(A).dtype == np.float64


# --------------------------------------------------------------------------------------------
# Refusals


@pytest.mark.parametrize(
    "args, match",
    [
        (("ij,jk->ik", O((2, 3))), "2 operand"),
        (("ij->ii", O((2, 2))), "repeat a label"),
        (("ij->k", O((2, 2))), "does not appear"),
        (("i...,i->i", O((2, 3)), O(2)), r"no '\.\.\.'"),
        (("i...->", O((2, 1))), r"no '\.\.\.'"),  # even of size 1, as NumPy
        (("ij,jk->ik", O((2, 3)), O((4, 5))), "size"),
        (("...,...", O(2), O(3)), "broadcast"),
        (("ijk", O((2, 3))), "axes"),
        (("i", O((2, 3))), "axes"),
        (("i$", O((2, 3))), "character"),
        (("i\tj", O((2, 3))), "character"),
        (("i.j", O((2, 3))), "not part of an ellipsis"),
        (("...i...", O((2, 3))), "more than one ellipsis"),
        (("ij->i->j", O((2, 3))), "more than one '->'"),
        (("ij-", O((2, 3))), "stray"),
        (("ii", O((2, 3))), "repeats label"),
        (("ii->i", O((1, 3))), "repeats label"),  # a diagonal does not broadcast
        ((O((2, 3)), [0, 52]), "0..51"),
        ((O((2, 3)), [0, -1]), "0..51"),
        ((O(3),), "list of axis labels"),
        (("ij,jk->ik", O((2, 3)), O((3, 4)), {"order": "Z"}), "order"),
        (("ij,jk->ik", O((2, 3)), O((3, 4)), {"casting": "bogus"}), "casting"),
        ((string.ascii_letters + "->", O((1,) * 52)), "at most 51"),
    ],
)
def test_value_errors_name_the_problem(args, match):
    kw = args[-1] if isinstance(args[-1], dict) else {}
    args = args[:-1] if kw else args
    pos = [i for i, a in enumerate(args) if isinstance(a, np.ndarray)]

    def f(*xs):
        a = list(args)
        for i, x in zip(pos, xs):
            a[i] = x
        return np.einsum(*a, **kw)

    xs = tuple(args[i] for i in pos)
    if match != "at most 51":  # NumPy runs 52 labels; dualad keeps one for derivatives
        with pytest.raises(ValueError):
            f(*xs)
    with pytest.raises(ValueError, match=match):
        ad.jvp(f, xs, xs)
    with pytest.raises(ValueError, match=match):
        ad.vjp(f, *xs)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda A: np.einsum(A, [True, 0]), "integers 0..51 or Ellipsis"),
        (lambda A: np.einsum(A, [0, 1.0]), "integers 0..51 or Ellipsis"),
        (lambda A: np.einsum(A, "ij"), "list of axis labels"),
        (lambda A: np.einsum("ij,jk", A, A.T, dtype=np.float32), "casting='safe'"),
        (lambda A: np.einsum("ij,jk", A, A.T.astype(np.float32), casting="no"), "casting='no'"),
        (lambda A: np.einsum("ij,jk", A, A.T, order=1), "order must be str"),
        (lambda A: np.einsum("ij,jk", A, A.T, casting=None), "casting must be str"),
        (lambda A: np.einsum("ij,jk", A, A.T, nonsense=1), "nonsense"),
        (lambda A: np.einsum("ij,jk", A, A.T, out=np.empty((2, 2))), "out="),
    ],
)
def test_type_errors_name_the_problem(call, match):
    A = O((2, 3))
    if match != "out=":  # NumPy writes into out=; dualad cannot
        with pytest.raises(TypeError):
            call(A)
    with pytest.raises(TypeError, match=match):
        ad.jvp(call, (A,), (A,))


# --------------------------------------------------------------------------------------------
# Generated subscripts

LABELS = string.ascii_letters


@st.composite
def einsum_cases(draw):
    """Subscripts and shapes: 1-3 operands, upper and lower case, repeated labels, '...' of
    several ranks anywhere in some operands, size-1 axes, implicit or explicit output."""
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
        if any("..." in t for t in terms) and draw(st.integers(0, 5)) > 0:  # else: refused
            out.insert(draw(st.integers(0, len(out))), "...")
        spec = ",".join(terms) + "->" + "".join(out)
    sublist = draw(st.booleans())
    seed = draw(st.integers(0, 2**16))
    return spec, shapes, sublist, seed


def _label(c: str) -> int:
    """NumPy's sublist integer for a letter: 'A'..'Z' -> 0..25, 'a'..'z' -> 26..51."""
    return ord(c) - ord("A") if c.isupper() else 26 + ord(c) - ord("a")


def _sublist_args(spec, ops):
    """The same einsum in the sublist form."""
    ins, _, out = spec.partition("->")

    def conv(term):
        head, dots, tail = term.partition("...")
        return [_label(c) for c in head] + ([Ellipsis] if dots else []) + [np.int16(_label(c)) for c in tail]

    args = []
    for term, op in zip(ins.split(","), ops):
        args += [op, conv(term)]
    if "->" in spec:
        args.append(conv(out))
    return args


def _call(spec, ops, sublist):
    return np.einsum(*_sublist_args(spec, ops)) if sublist else np.einsum(spec, *ops)


@given(einsum_cases())
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_generated_einsum_matches_numpy_and_the_product_rule(case):
    spec, shapes, sublist, seed = case
    rng = np.random.default_rng(seed)
    ops = [rng.standard_normal(s) for s in shapes]
    f = lambda *a: _call(spec, list(a), sublist)
    try:
        ref = f(*ops)
    except ValueError:
        with pytest.raises(ValueError, match="einsum: "):
            ad.jvp(f, tuple(ops), tuple(ops))
        return
    tangents = [rng.standard_normal(s) for s in shapes]
    y, ydot = ad.jvp(f, tuple(ops), tuple(tangents))
    assert np.shape(y) == np.shape(ref)
    np.testing.assert_allclose(y, ref, rtol=1e-12, atol=1e-12)
    # einsum is multilinear: the tangent is the product rule, one operand at a time
    expected = sum(f(*ops[:i], t, *ops[i + 1:]) for i, t in enumerate(tangents))
    np.testing.assert_allclose(ydot, expected, rtol=1e-10, atol=1e-10)
    _, pullback = ad.vjp(f, *ops)
    ct = rng.standard_normal(np.shape(ref))
    cts = pullback(ct)
    lhs = float(np.sum(ct * ydot))
    rhs = sum(float(np.sum(c * t)) for c, t in zip(cts, tangents))
    np.testing.assert_allclose(lhs, rhs, rtol=1e-9, atol=1e-9)
    k = seed % len(ops)
    if ops[k].size and np.size(ref):
        def g(x):
            return f(*ops[:k], x, *ops[k + 1:])

        np.testing.assert_allclose(ad.jacfwd(g)(ops[k]), ad.jacrev(g)(ops[k]), rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------------------------
# Against finite differences


@pytest.mark.parametrize(
    "spec, shapes",
    [
        ("...ij,...jk->...ik", [(2, 1, 2, 3), (5, 3, 2)]),
        ("ii->i", [(3, 3)]),
        ("ij,ij->ij", [(1, 3), (2, 3)]),
        ("Ab,ba", [(2, 3), (3, 2)]),
        ("i...,...->...i", [(2, 3), ()]),
        (",ij->ij", [(), (2, 2)]),
        ("a...b,...bc,c", [(2, 3, 1, 2), (1, 3, 2, 2), (2,)]),
        ("iji,j...", [(2, 3, 2), (3, 2)]),
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

"""``np.array`` / ``np.asarray`` of lists holding active values (issue 16).

NumPy builds an object array of the elements; dualad joins it into one active array where it
meets it (transform outputs, operands, NumPy functions on active values), in every mode and
nesting order.  Checked against finite differences and across modes.  An active *array* that
goes through ``np.asarray`` (as SciPy code does) still cannot be computed with: the escape
message names ``dualad.primal``.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dualad as ad
from tests.helpers import check_jacfwd, fd_jacobian

X = np.array([0.7, -1.3, 2.1])


def _scalars(x):
    return np.array([x[0] * x[1], 2.0, np.sin(x[2]), x[0]])


def _nested(x):
    return np.array([[x[0] ** 2, 1.0], [x[1] * x[2], np.float64(3.0)]])


def _mixed_plain_arrays(x):
    return np.array([np.array(0.5), x[1], 4, np.exp(x[0])])


def _tuple(x):
    return np.asarray((x[2], x[0] - x[1]))


def _arrays(x):
    return np.array([x, 2.0 * x, np.cos(x)])


def _arrays_nested(x):
    return np.array([[x[:2], x[1:]], [x[::2], np.array([1.0, 2.0])]])


def _whole(x):
    return np.array(x) * x


def _zero_d(x):
    return np.array([x[0]]) * np.array(x[1])


def _computed(x):
    """Object arrays of active scalars compute element by element in NumPy's loops."""
    y = np.array([x[0], x[1], x[2] * x[0]])
    return np.exp(y) * 2.0 - np.sin(np.array([x[1], x[0], x[2]])) + y.sum() + np.array([1.0, x[0]]).prod()


def _combined(x):
    """Combined with an active value: joined into one active array first."""
    return x * np.array([x[2], x[1], 1.0]) + np.array([x, x]).T @ x[:2] + np.maximum(np.array([x[1], 0.0, x[0]]), x)


def _matmul(x):
    A = np.array([[x[0], x[1]], [x[2], 1.0]])
    return np.linalg.solve(A, x[:2]) + np.linalg.solve(x[:2].reshape(2, 1) * np.ones(2) + np.eye(2), np.array([1.0, x[0]]))


def _reduced(x):
    """NumPy's reductions over an object array pick some active elements, some constants."""
    return np.max(np.array([[x[0], 3.0], [x[1], 4.0]]), axis=0)


def _reduced_to_constants(x):
    """... or constants only: an object array of numbers, whose derivative is zero."""
    return np.min(np.array([[x[0], x[1]], [0.1, -2.0]]), axis=0)


CASES = {f.__name__: f for f in (_scalars, _nested, _mixed_plain_arrays, _tuple, _arrays, _arrays_nested, _whole, _zero_d,
                                 _computed, _combined, _matmul, _reduced, _reduced_to_constants)}


@pytest.mark.parametrize("name", sorted(CASES))
def test_forward_and_reverse_against_fd(name):
    f = CASES[name]
    jf = check_jacfwd(f, X)
    np.testing.assert_allclose(ad.jacrev(f)(X), jf, rtol=1e-12, atol=1e-12)
    y, t = ad.jvp(f, (X,), (np.ones(3),))
    np.testing.assert_allclose(ad.primal(y), np.asarray(f(X), dtype=float))
    assert not isinstance(y, np.ndarray) or y.dtype != object


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("mode", ["forward-over-reverse", "reverse-over-reverse", "forward-over-forward", "reverse-over-forward"])
def test_hessians_every_nesting_order(name, mode):
    f = CASES[name]
    g = lambda x: np.sum((x[0] * f(x)) ** 2)  # (x[0] * joins an array of arrays)
    H = ad.hessian(g, mode=mode)(X)
    fd = fd_jacobian(ad.grad(g), [X], 0)
    np.testing.assert_allclose(H, fd, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ad.hvp(g, X, np.array([1.0, -2.0, 0.5])), H @ np.array([1.0, -2.0, 0.5]), rtol=1e-10, atol=1e-10)


def test_grad_of_a_scalar_built_from_a_list():
    f = lambda x: np.sum(np.array([x[0] ** 3, x[1] * x[2]]))
    np.testing.assert_allclose(ad.grad(f)(X), [3 * X[0] ** 2, X[2], X[1]])
    np.testing.assert_allclose(ad.grad(lambda x: np.array(x[0] * x[1]))(X), [X[1], X[0], 0.0])


def test_inner_levels_inside_a_list():
    """Active values of two nesting levels in one list: each level differentiates its own."""
    def outer(a):
        return ad.grad(lambda b: np.sum(np.array([a * b, b**2, a]) ** 2))(1.5)

    h = 1e-6
    np.testing.assert_allclose(ad.derivative(outer)(0.8), (outer(0.8 + h) - outer(0.8 - h)) / (2 * h), rtol=1e-6)
    inner = lambda a: ad.jacfwd(lambda b: np.array([a * b, b * b]))(np.array(1.5))
    np.testing.assert_allclose(ad.jacrev(inner)(0.8), [1.0, 0.0], atol=1e-12)


def test_float32_elements_keep_float32():
    x = X.astype(np.float32)
    f = lambda x: np.array([x[0] * x[1], x[2]])
    y, t = ad.jvp(f, (x,), (np.ones(3, np.float32),))
    assert ad.primal(y).dtype == np.float32 and t.dtype == np.float32
    np.testing.assert_allclose(ad.jacrev(f)(x), ad.jacfwd(f)(X), rtol=1e-6)
    # a Python float among the elements makes it float64, as NumPy does for plain arrays
    assert ad.primal(ad.jvp(lambda x: np.array([x[0], 2.0]), (x,), (np.ones(3, np.float32),))[0]).dtype == np.float64


@settings(max_examples=25, deadline=None)
@given(st.lists(st.one_of(st.integers(0, 2), st.floats(-3, 3)), min_size=1, max_size=6))
def test_any_mix_of_elements(spec):
    """Random lists of active elements (x[i] * (i + 1)) and plain floats: forward = reverse = FD."""
    def f(x):
        return np.array([x[e] * (e + 1.0) if isinstance(e, int) else e for e in spec])

    jf = ad.jacfwd(f)(X)
    np.testing.assert_allclose(jf, fd_jacobian(f, [X], 0), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(ad.jacrev(f)(X), jf, atol=1e-12)


def test_whole_array_through_asarray_still_refuses_to_compute():
    with pytest.raises(TypeError, match=r"dualad\.primal"):
        ad.grad(lambda x: np.sum(np.asarray(x) * 2.0))(X)
    with pytest.raises(TypeError, match=r"dualad\.primal"):
        ad.grad(lambda x: np.sum(np.exp(np.asarray(x))))(X)
    with pytest.raises(TypeError, match=r"dualad\.primal"):
        ad.grad(lambda x: float(np.asarray(x)[0]))(X)
    with pytest.raises(TypeError, match=r"dualad\.primal"):
        ad.grad(lambda x: np.sum(np.asarray(x, dtype=float)))(X)
    with pytest.raises(TypeError, match=r"dualad\.primal"):
        ad.grad(lambda x: np.sum(np.array([x[0], x[1]], dtype=float)))(X)
    with pytest.raises(TypeError, match=r"dualad\.primal"):  # scalars too: np.asarray(c) holds an escaped element
        ad.grad(lambda x: np.exp(np.asarray(x[0])) * 1.0)(X)


def test_scipy_on_an_active_array_gets_the_escape_message():
    stats = pytest.importorskip("scipy.stats")
    special = pytest.importorskip("scipy.special")
    with pytest.raises(TypeError, match=r"dualad\.primal"):
        ad.grad(lambda x: np.sum(stats.norm.logpdf(x)))(X)
    with pytest.raises(TypeError, match=r"dualad\.primal"):
        ad.grad(lambda x: special.logsumexp(x))(X)
    with pytest.raises(TypeError, match=r"dualad\.primal"):
        ad.grad(lambda x: stats.norm.logpdf(x[0]))(X)


def test_lists_of_active_arrays_refuse_plain_numpy_computation():
    """np.array([x1, x2]) of active arrays holds escaped elements: it may be returned or
    combined with active values, but NumPy alone cannot compute with it."""
    with pytest.raises(TypeError, match=r"np\.stack"):
        ad.grad(lambda x: np.sum(np.array([x, x])))(X)
    np.testing.assert_allclose(ad.grad(lambda x: np.sum(np.stack([x, x])))(X), 2.0 * np.ones(3))


def test_known_limits_of_plain_numpy_on_object_arrays():
    """Where NumPy computes with an object array by itself, it uses its own loops: a plain
    number among the elements has no ``sin`` method, and np.linalg takes no object arrays.
    Combined with an active value first (or built with np.stack), the same works."""
    with pytest.raises(TypeError, match="sin"):
        ad.grad(lambda x: np.sum(np.sin(np.array([x[0], 0.5]))))(X)
    g = ad.grad(lambda x: np.sum(np.sin(x[0] * 0.0 + np.array([x[0], 0.5]))))(X)
    np.testing.assert_allclose(g, [np.cos(X[0]), 0.0, 0.0])


def test_many_active_scalars_join_in_one_entry_and_pull_in_linear_time():
    """``np.array`` of n active scalars records one ``stack`` entry (not n reshapes and a
    concatenate), and reading x[i] n times pulls back by adding into one adjoint in place
    (before: a zero array of x's size per read, O(n²) per cotangent row)."""
    n = 400
    x = np.linspace(0.1, 1.0, n)
    f = lambda x: np.array([x[i] * x[(i + 1) % n] for i in range(n)])
    J = np.zeros((n, n))
    J[np.arange(n), (np.arange(n) + 1) % n] = x[:n][:, None].ravel()
    J[np.arange(n), np.arange(n)] += x[(np.arange(n) + 1) % n]
    for jac in (ad.jacrev, ad.jacfwd):
        np.testing.assert_allclose(jac(f)(x), J, rtol=1e-14)
    np.testing.assert_allclose(ad.grad(lambda x: np.sum(f(x)))(x), J.sum(axis=0), rtol=1e-14)
    tape = ad.Tape()
    v = tape.variable(x[:5])
    np.sum(np.array([v[i] * 2.0 for i in range(5)]) * v)  # joined where it meets v
    listing = str(tape)
    assert listing.count("stack(") == 1 and "concatenate(" not in listing and "reshape(" not in listing, listing


def test_stack_of_many_inputs_every_mode_and_order():
    """The one-entry ``np.stack`` (any axis, mixed dtypes, plain and active inputs) against
    finite differences, the other mode and second order."""
    a = np.array([[0.3, -1.2], [2.0, 0.5]])
    f = lambda a: np.stack([a, np.sin(a), np.ones((2, 2)), a**2], axis=1)
    jf = check_jacfwd(f, a)
    np.testing.assert_allclose(ad.jacrev(f)(a), jf, rtol=1e-12)
    y, t = ad.jvp(lambda a: np.stack([a.astype(np.float32), a]), (a,), (a,))  # NumPy's result dtype
    assert ad.primal(y).dtype == t.dtype == np.float64
    np.testing.assert_allclose(t, np.stack([a, a]), rtol=1e-7)
    g = lambda a: np.sum(np.stack([a[0], a[1] * a[0]], axis=-1) ** 2)
    for mode in ("forward-over-reverse", "reverse-over-reverse", "forward-over-forward", "reverse-over-forward"):
        np.testing.assert_allclose(ad.hessian(g, mode=mode)(a), fd_jacobian(lambda a: ad.grad(g)(a), [a], 0), rtol=1e-6, atol=1e-8)
    with pytest.raises(ValueError, match="same shape"):
        ad.grad(lambda a: np.sum(np.stack([a, a[0]])))(a)


@pytest.mark.parametrize("order", ["first", "last"])
def test_indexing_pulls_into_an_adjoint_in_any_memory_order(order):
    """The in-place pull of fancy indexing adds at multi-indices: an adjoint that arrived first
    through a transpose is in Fortran order, where a flat view would be a copy and the
    contribution would be lost (it was, once)."""
    c = np.arange(6.0).reshape(3, 2)
    picked = lambda x: np.sum(x[[0, 1, 1], [1, 2, 2]] * 5.0)  # (a repeat accumulates)
    through_t = lambda x: np.sum(x.T * c)
    f = (lambda x: picked(x) + through_t(x)) if order == "first" else (lambda x: through_t(x) + picked(x))
    want = c.T.copy()
    want[0, 1] += 5.0
    want[1, 2] += 10.0
    x = np.ones((2, 3))
    np.testing.assert_array_equal(ad.grad(f)(x), want)
    np.testing.assert_array_equal(ad.jacrev(lambda x: f(x)[None])(x)[0], want)
    np.testing.assert_array_equal(ad.hessian(f, mode="reverse-over-reverse")(x), np.zeros((2, 3, 2, 3)))

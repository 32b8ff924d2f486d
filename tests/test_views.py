"""NumPy's view semantics on active values (dualad/core/views.py).

A write through a view reaches the array it views, a write into an array reaches its live
views, and in-place operators write into the array (so every alias sees them), exactly as
NumPy computes the same program on plain arrays.  Each program is checked against itself run
on plain NumPy arrays (the value), central differences (forward mode), forward against reverse,
both Hessian orders, and ``jit`` at a new point against the plain transform.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dualad as ad
from tests.helpers import check_jacfwd

X = np.array([0.7, -1.3, 2.1, 0.4, -0.6, 1.9])


def view_write(x):
    y = x * 1.0
    v = y[1:]
    v[0] = 5.0 * x[0]
    return y


def reshape_view_write(x):
    y = x * 1.0
    m = y.reshape(2, 3)
    m[1, 2] = np.sin(x[3])
    return y


def transpose_view_write(x):
    y = (x * 2.0).reshape(2, 3)
    y.T[0, 1] = x[0] ** 2
    return y.ravel()


def np_function_views(x):
    y = x * 1.0
    np.reshape(y, (3, 2))[0, 1] = x[2] * x[3]
    np.transpose(np.reshape(y, (2, 3)))[2, 0] *= x[4]
    return y


def view_of_view(x):
    y = (x * 1.0).reshape(2, 3)
    row = y[1]
    tail = row[1:]
    tail += x[:2]
    return y


def parent_write_seen_by_view(x):
    y = x * 1.0
    head = y[:3]
    y[1] = 10.0 * x[5]
    y[4] = 3.0  # not in the view
    return head * x[:3]


def sibling_views(x):
    y = x * 1.0
    a = y[1:4]
    b = y[2:]
    a[1] = x[0] ** 3  # y[2], which b[0] also is
    return b


def alias_in_place(x):
    y = x * 2.0
    z = y
    z += 1.0
    z *= x
    return y


def row_in_place(x):
    m = np.outer(x[:3], x[3:])
    r = m[1]
    r -= m[0] * 0.5
    r /= np.sqrt(np.sum(r * r))
    return m.ravel()


def gram_schmidt(x):
    a = np.stack([x[:3], x[3:], x[:3] * x[3:]], axis=1) + np.eye(3)
    q = a * 1.0
    for j in range(3):
        v = q[:, j]
        for i in range(j):
            v -= np.dot(q[:, i], a[:, j]) * q[:, i]
        v /= np.linalg.norm(v)
    return q.ravel()


def copies_are_not_views(x):
    y = x * 1.0
    c = y[[0, 2, 4]]  # advanced indexing: a copy in NumPy
    c[0] = 100.0
    t = y.reshape(2, 3).T.reshape(6)  # a reshape of a transposed array: a copy
    t[0] = -7.0
    f = y.flatten()
    f[1] = 9.0
    return np.concatenate([y, c, t, f])


def view_outlives_rebinding(x):
    y = x * 1.0
    a = y[1:]
    b = y[:3]
    y = y * 0.0  # the name now holds another array; the views still share the old one
    a[0] = x[3] ** 2  # old y[1], which is b[1]
    return np.concatenate([b, y])


PROGRAMS = [view_write, reshape_view_write, transpose_view_write, np_function_views, view_of_view,
            parent_write_seen_by_view, sibling_views, alias_in_place, row_in_place, gram_schmidt,
            copies_are_not_views, view_outlives_rebinding]


@pytest.mark.parametrize("f", PROGRAMS, ids=lambda f: f.__name__)
def test_view_program_matches_numpy(f):
    want = f(X.copy())
    y, _ = ad.jvp(f, (X,), (np.ones_like(X),))
    np.testing.assert_allclose(ad.primal(y), want, rtol=1e-14)
    jf = check_jacfwd(f, X, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(ad.jacrev(f)(X), jf, rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize("f", [view_write, view_of_view, sibling_views, alias_in_place, gram_schmidt], ids=lambda f: f.__name__)
def test_view_program_hessians(f):
    def loss(x):
        return np.sum(f(x) ** 3)

    h = ad.hessian(loss)(X)
    np.testing.assert_allclose(ad.hessian(loss, mode="reverse-over-forward")(X), h, rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(ad.hessian(loss, mode="forward-over-forward")(X), h, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("f", PROGRAMS, ids=lambda f: f.__name__)
def test_view_program_under_jit(f):
    def loss(x):
        return np.sum(np.sin(f(x)))

    fast = ad.jit(ad.value_and_grad(loss))
    for x in (X, X[::-1] * 0.9):
        value, g = fast(x)
        want_value, want_g = ad.value_and_grad(loss)(x)
        np.testing.assert_allclose(value, want_value, rtol=1e-13)
        np.testing.assert_allclose(g, want_g, rtol=1e-11, atol=1e-13)


def test_float32_views_keep_their_dtype():
    x = X.astype(np.float32)

    def f(v):
        y = v * 1.0
        w = y[2:]
        w += v[:4] * 0.5  # float64 operand: the in-place result stays float32, as NumPy's
        w *= np.float64(2.0)
        return y

    y, t = ad.jvp(f, (x,), (np.ones_like(x),))
    assert ad.primal(y).dtype == np.float32 and t.dtype == np.float32
    np.testing.assert_allclose(ad.primal(y), f(x.copy()), rtol=1e-6)


def test_writing_through_a_view_of_an_input_is_refused_before_anything_changes():
    def f(x):
        v = x[1:]
        v[0] = 3.0
        return v

    with pytest.raises(RuntimeError, match=r"view of a leaf Variable.*\.copy\(\)"):
        ad.grad(lambda x: np.sum(f(x)))(X)
    # a copy of the view may be written
    g = ad.grad(lambda x: np.sum(np.sin((lambda v: (v.__setitem__(0, 3.0), v)[1])(x[1:].copy()))))(X)
    np.testing.assert_allclose(g, np.r_[0.0, 0.0, np.cos(X[2:])], rtol=1e-14)


def test_in_place_on_an_input_rebinds_the_name():
    """``x += 1`` on a transform's input binds the name to the sum (as JAX does): the
    caller's array is never written."""
    x = X.copy()

    def f(v):
        v += 1.0
        return np.sum(v**2)

    np.testing.assert_allclose(ad.grad(f)(x), 2 * (X + 1.0), rtol=1e-14)
    np.testing.assert_array_equal(x, X)


def test_in_place_shape_and_dtype_errors_as_numpy():
    with pytest.raises(ValueError, match="non-broadcastable output operand"):
        ad.jacfwd(lambda x: (lambda y: (y.__iadd__(np.ones((2, 6))), y)[1])(x * 1.0))(X)
    with pytest.raises(TypeError, match="imaginary part"):
        ad.jacfwd(lambda x: (lambda y: (y.__iadd__(1j * x), y)[1])(x * 1.0))(X)


def test_hand_made_variables_and_backward():
    w = ad.Variable(np.array([1.0, 2.0, 3.0, 4.0]))
    y = w * 2.0
    m = y.reshape(2, 2)
    m[0] *= w[3]  # writes y[0:2] through the view
    loss = np.sum(y * y)
    loss.backward()
    yv = np.array([2.0 * 4.0, 4.0 * 4.0, 6.0, 8.0])
    want = np.array([2 * yv[0] * 8.0, 2 * yv[1] * 8.0, 2 * yv[2] * 2.0, 2 * yv[3] * 2.0 + 2 * yv[0] * 2.0 + 2 * yv[1] * 4.0])
    np.testing.assert_allclose(w.grad, want, rtol=1e-14)


@settings(max_examples=60, deadline=None)
@given(
    start=st.integers(0, 5), stop=st.integers(1, 6), step=st.sampled_from([1, 2, -1]),
    pos=st.integers(0, 5), scale=st.floats(-2.0, 2.0),
)
def test_slice_writes_match_numpy(start, stop, step, pos, scale):
    """Random slice views, a write through the view and one into the base, then both read."""

    def f(x):
        y = x * 1.0
        v = y[start:stop:step]
        if v.shape[0]:
            v[pos % v.shape[0]] = scale * x[pos]
        y[pos] += x[(pos + 1) % 6]
        return np.concatenate([y, v])

    y, t = ad.jvp(f, (X,), (np.ones_like(X),))
    np.testing.assert_allclose(ad.primal(y), f(X.copy()), rtol=1e-14)
    np.testing.assert_allclose(ad.jacrev(f)(X), ad.jacfwd(f)(X), rtol=1e-13, atol=1e-14)


def test_augmented_item_assignment_records_one_write():
    """``y[1:3] += v`` is a view written in place, then assigned back where it is: the second
    step writes nothing (one recorded write, as before views were linked)."""

    def f(x):
        y = x * 1.0
        y[1:3] += x[3:5]
        y[::2] *= 2.0
        y[4] -= x[0]
        return y

    np.testing.assert_allclose(ad.primal(ad.jvp(f, (X,), (np.ones_like(X),))[0]), f(X.copy()), rtol=1e-14)
    jf = check_jacfwd(f, X, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(ad.jacrev(f)(X), jf, rtol=1e-12)
    y = f(ad.Variable(X))
    assert str(y.tape).count("setitem") == 3  # one write per augmented assignment


def test_rows_written_while_iterating():
    def f(x):
        m = np.outer(x[:3], x[3:]) + 1.0
        for row in m:  # rows are views, as in NumPy
            row /= np.sum(row)
        return m.ravel()

    np.testing.assert_allclose(ad.primal(ad.jvp(f, (X,), (np.ones_like(X),))[0]), f(X.copy()), rtol=1e-14)
    jf = check_jacfwd(f, X, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(ad.jacrev(f)(X), jf, rtol=1e-11, atol=1e-12)


# -- buffers from zeros_like & co., and whole programs written with in-place updates ------------

def heat(u0, steps=20, r=0.2):
    u = u0 * 1.0
    for _ in range(steps):
        lap = np.zeros_like(u)  # an active zero buffer when u is active
        lap[1:-1] = u[2:] - 2 * u[1:-1] + u[:-2]
        u[1:-1] += r * lap[1:-1]
        u[0] = u[1]
        u[-1] = u[-2]
    return u


def rk4(y0, h=0.1, n=10):
    y = y0 * 1.0
    k = np.zeros_like(y, shape=(4, 2))

    def f(v):
        return np.array([v[1], -np.sin(v[0]) - 0.1 * v[1]])

    for _ in range(n):
        k[0] = f(y)
        k[1] = f(y + h / 2 * k[0])
        k[2] = f(y + h / 2 * k[1])
        k[3] = f(y + h * k[2])
        y += h / 6 * (k[0] + 2 * k[1] + 2 * k[2] + k[3])
    return y


def kalman(z):
    x, P = np.zeros_like(z, shape=2), np.eye(2)
    F, H = np.array([[1.0, 1.0], [0.0, 1.0]]), np.array([[1.0, 0.0]])
    out = np.empty_like(z)
    for t in range(z.shape[0]):
        x = F @ x
        P = F @ P @ F.T + 0.01 * np.eye(2)
        K = P @ H.T / (H @ P @ H.T + 0.5)
        x += (K * (z[t] - H @ x)).ravel()
        P -= K @ H @ P
        out[t] = x[0]
    return out


def lu_in_place(a):
    A = a.reshape(4, 4) * 1.0 + 4 * np.eye(4)
    for k in range(4):
        A[k + 1:, k] /= A[k, k]
        A[k + 1:, k + 1:] -= np.outer(A[k + 1:, k], A[k, k + 1:])
    return A.ravel()


def full_like_buffers(x):
    ones = np.ones_like(x)
    ones[::2] = x[::2] ** 2
    filled = np.full_like(x, x[0], shape=(2, 3))  # an active fill value carries its derivative
    filled[1] *= x[3:]
    ints = np.zeros_like(x, dtype=int)  # integers stay plain
    assert type(ints) is np.ndarray
    return np.concatenate([ones, filled.ravel(), np.ones_like(x, dtype=np.float32) * x])


RNG = np.random.default_rng(2)
WHOLE = [(heat, RNG.standard_normal(12)), (rk4, np.array([0.5, 0.1])), (kalman, RNG.standard_normal(8)),
         (lu_in_place, RNG.standard_normal(16)), (full_like_buffers, X)]


@pytest.mark.parametrize("f, x", WHOLE, ids=[f.__name__ for f, _ in WHOLE])
def test_programs_with_in_place_updates(f, x):
    want = f(x.copy())
    y, _ = ad.jvp(f, (x,), (np.ones_like(x),))
    np.testing.assert_allclose(ad.primal(y), want, rtol=1e-13)
    jf = check_jacfwd(f, x, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ad.jacrev(f)(x), jf, rtol=1e-10, atol=1e-11)
    np.testing.assert_allclose(ad.jit(ad.jacrev(f))(x * 0.9), ad.jacrev(f)(x * 0.9), rtol=1e-11, atol=1e-12)


def test_zeros_like_of_an_active_value_is_an_exact_constant():
    x = np.array([np.inf, np.nan, -2.0])

    def f(v):
        z = np.zeros_like(v)
        z[2] = v[2] ** 2
        return z

    y, t = ad.jvp(f, (x,), (np.ones(3),))
    np.testing.assert_array_equal(ad.primal(y), [0.0, 0.0, 4.0])  # not inf * 0
    np.testing.assert_array_equal(t, [0.0, 0.0, -4.0])
    assert ad.jacrev(lambda v: np.empty_like(v, dtype=np.float32) + v)(np.ones(2, np.float32)).dtype == np.float32


def complex_parts(x):
    z = x[:3] * (1 + 1j) + x[3:] * 0.5j
    r = z.real
    r[0] = 10 * x[1]  # through the view of the real part
    z.imag[1] = x[2] ** 2
    im = z.imag
    z[2] = 5j * x[0]  # seen by im
    z.imag *= x[4]
    return np.concatenate([np.abs(z) ** 2, im])


def part_setters(x):
    z = x[:3] * (1 + 1j)
    z.real = x[3:]
    z.imag = 2.0
    y = x * 1.0
    y.real[1] = x[0] ** 3  # a real array's .real is itself
    return np.concatenate([np.abs(z), y])


@pytest.mark.parametrize("f", [complex_parts, part_setters], ids=lambda f: f.__name__)
def test_complex_part_views(f):
    want = f(X.copy())
    y, _ = ad.jvp(f, (X,), (np.ones_like(X),))
    np.testing.assert_allclose(ad.primal(y), want, rtol=1e-14)
    jf = check_jacfwd(f, X, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(ad.jacrev(f)(X), jf, rtol=1e-11, atol=1e-12)


def test_complex64_part_write_keeps_dtype():
    def f(x):
        z = x.astype(np.complex64) * 1j
        z.real[0] = x[1]
        return np.abs(z)

    x = X.astype(np.float32)
    y, t = ad.jvp(f, (x,), (np.ones_like(x),))
    assert ad.primal(y).dtype == np.float32 and t.dtype == np.float32
    np.testing.assert_allclose(ad.primal(y), f(x.copy()), rtol=1e-6)
    with pytest.raises(TypeError, match="imaginary part"):
        ad.jacfwd(lambda v: setattr(v * 1.0, "imag", 1.0))(X)


def in_place_methods(x):
    y = x * 1.0
    y[1:].sort()  # through a view
    z = np.outer(x[:2], x[2:4]).ravel()
    z.partition(1)
    z.put([0, 3], x[4:] ** 2)
    v = z.view()
    v[2] = x[0] * x[5]
    return np.concatenate([y, z, y.compress([True, False, True, False, True, True])])


def test_in_place_methods():
    want = in_place_methods(X.copy())
    y, _ = ad.jvp(in_place_methods, (X,), (np.ones_like(X),))
    np.testing.assert_allclose(ad.primal(y), want, rtol=1e-14)
    jf = check_jacfwd(in_place_methods, X, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(ad.jacrev(in_place_methods)(X), jf, rtol=1e-12, atol=1e-13)
    with pytest.raises(TypeError, match="reinterprets"):
        ad.jacfwd(lambda v: v.view(np.int64))(X)

"""The rest of NumPy (issue 16): the five bugs, elementwise functions, ufunc methods.

Every function is checked against central finite differences (forward mode) and against the
other mode (reverse), in float64; float32 keeps its dtype through both modes.
"""

import numpy as np
import pytest

import dualad as ad
from tests.helpers import check_jacfwd, fd_complex_grad

X = np.array([0.3, -1.2, 2.55, 0.75, 1.9, -0.45])


def both_modes(f, x, rtol=1e-5, atol=1e-6):
    """jacfwd against finite differences, jacrev against jacfwd, the value against NumPy."""
    jf = check_jacfwd(f, x, rtol=rtol, atol=atol)
    np.testing.assert_allclose(ad.jacrev(f)(x), jf, rtol=1e-10, atol=1e-12)
    y, _ = ad.jvp(f, (x,), (np.ones_like(x),))
    np.testing.assert_allclose(ad.primal(y), f(x), rtol=1e-12)
    return jf


# --- the five bugs ---------------------------------------------------------------------------


def test_power_at_zero_has_the_limits_in_every_mode_and_order():
    assert ad.grad(lambda x: x**0.0)(0.0) == 0.0
    assert ad.derivative(lambda x: x**1.0, order=2)(0.0) == 0.0
    assert ad.derivative(lambda x: x**2.0, order=3)(0.0) == 0.0
    assert ad.derivative(lambda x: x**1.0)(0.0) == 1.0
    for mode in ("forward-over-reverse", "reverse-over-reverse", "forward-over-forward", "reverse-over-forward"):
        H = ad.hessian(lambda x: np.sum(x**1.0), mode=mode)(np.zeros(3))
        np.testing.assert_array_equal(H, np.zeros((3, 3)))
    # large arrays go through the compiled kernels (first and second order)
    z = np.zeros(5000)
    np.testing.assert_array_equal(ad.grad(lambda x: np.sum(x**0.0))(z), z)
    np.testing.assert_array_equal(ad.hvp(lambda x: np.sum(x**1.0), z, np.ones_like(z)), z)
    # the exponent's partial is untouched away from x = 0 (mixed second derivative at y = 0)
    d2 = ad.grad(lambda y: ad.grad(lambda x: x**y)(2.0))(0.0)
    np.testing.assert_allclose(d2, 0.5, rtol=1e-12)  # d/dy (y x^(y-1)) = x^(y-1)(1 + y ln x)


def test_diff_with_numpy_placeholders():
    f = lambda x: np.diff(x, 1, 0, np._NoValue, np._NoValue)
    both_modes(f, X)


@pytest.mark.parametrize("func", [np.amin, np.amax, np.sum, np.prod, np.min, np.max])
@pytest.mark.parametrize("axis", [0, -1])
def test_axis_zero_on_a_scalar(func, axis):
    assert ad.grad(lambda x: func(x, axis=axis) * 3.0)(1.5) == 3.0
    with pytest.raises(np.exceptions.AxisError):
        ad.grad(lambda x: func(x, axis=1))(1.5)


def test_array_split_with_a_0d_array():
    got = ad.jacfwd(lambda x: np.array_split(x, np.array(4))[1])(X)
    np.testing.assert_array_equal(got, np.eye(6)[2:4])
    got = ad.jacrev(lambda x: np.split(x, np.array([1, 4]))[1])(X)
    np.testing.assert_array_equal(got, np.eye(6)[1:4])


def test_split_into_unequal_parts_raises_as_numpy():
    with pytest.raises(ValueError, match="equal division"):
        ad.jacfwd(lambda x: np.split(x, 4)[0])(X)


def test_modulo_operator():
    both_modes(lambda x: x % 0.7, X)
    both_modes(lambda x: 5.0 % (x + 3.0), X)
    both_modes(lambda x: divmod(x, 0.7)[1], X)
    seen = []
    ad.grad(lambda x: (seen.append(divmod(x, 0.7)[0]), np.sum(x))[1])(X)  # the quotient: plain
    assert type(seen[0]) is np.ndarray
    np.testing.assert_array_equal(seen[0], X // 0.7)


# --- elementwise -----------------------------------------------------------------------------

ELEMENTWISE = {
    "radians": lambda x: np.radians(x),
    "degrees": lambda x: np.degrees(x),
    "fabs": lambda x: np.fabs(x),
    "fmod": lambda x: np.fmod(x, 0.7),
    "fmod_y": lambda x: np.fmod(3.1, x + 3.0),
    "remainder": lambda x: np.remainder(x, 0.7),
    "remainder_y": lambda x: np.remainder(-3.1, x + 3.0),
    "divmod": lambda x: np.divmod(x, 0.7)[1],
    "modf_frac": lambda x: np.modf(x)[0],
    "modf_int": lambda x: np.modf(x)[1] + x,
    "float_power": lambda x: np.float_power(np.abs(x) + 0.1, 1.5),
    "float_power_y": lambda x: np.float_power(1.7, x),
    "sinc": lambda x: np.sinc(x),
    "sinc_near_0": lambda x: np.sinc(x * 1e-4),
    "nan_to_num": lambda x: np.nan_to_num(x / np.array([1.0, 0.0, 1.0, 1.0, 0.0, 1.0])),
    "nan_to_num_values": lambda x: np.nan_to_num(np.log(x), nan=1.0, neginf=-5.0),
    "heaviside_h0": lambda x: np.heaviside(np.array([0.0, 1.0, -1.0, 0.0, 2.0, 0.0]), x),
    "heaviside_x": lambda x: np.heaviside(x, 0.5) * x,
    "copysign": lambda x: np.copysign(x, -1.0),
    "copysign_signs": lambda x: np.copysign(x, np.array([-1.0, 1.0, -1.0, 1.0, -1.0, 1.0])),
    "fix": lambda x: np.fix(x) + x,
    "ldexp": lambda x: np.ldexp(x, 3),
    "ldexp_exponents": lambda x: np.ldexp(x, np.array([-2, 0, 1, 5, -7, 2])),
    "frexp_mantissa": lambda x: np.frexp(x * 7.0)[0],
}


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_elementwise_both_modes_and_fd(name):
    with np.errstate(all="ignore"):
        both_modes(ELEMENTWISE[name], X)


@pytest.mark.parametrize("name", ["radians", "fmod", "remainder", "sinc", "copysign", "modf_frac", "fabs", "ldexp",
                                  "frexp_mantissa"])
def test_elementwise_float32(name):
    f = ELEMENTWISE[name]
    x = X.astype(np.float32)
    y, t = ad.jvp(f, (x,), (np.ones_like(x),))
    assert ad.primal(y).dtype == np.float32 and t.dtype == np.float32
    np.testing.assert_allclose(ad.jacrev(f)(x), ad.jacfwd(f)(X), rtol=1e-5, atol=1e-5)


def test_sinc_second_derivative_at_zero():
    np.testing.assert_allclose(ad.derivative(np.sinc, order=2)(0.0), -np.pi**2 / 3, rtol=1e-12)
    np.testing.assert_allclose(ad.derivative(np.sinc, order=2)(0.4), _fd2(np.sinc, 0.4), rtol=1e-5)


def test_sinc_derivative_accurate_near_zero_in_float32():
    """(cos πx − sinc x)/x cancels near 0; the rule switches to its Taylor series there."""
    x = np.array([1e-6, 1e-3, 1.3e-3, 0.05, 0.2, 0.26, 0.6])
    g64 = ad.grad(lambda x: np.sum(np.sinc(x)))(x)
    g32 = ad.grad(lambda x: np.sum(np.sinc(x)))(x.astype(np.float32))
    np.testing.assert_allclose(g32, g64, rtol=2e-6, atol=1e-7)
    np.testing.assert_allclose(g64[:3], -np.pi**2 / 3 * x[:3], rtol=1e-5)


def test_sinc_of_complex_values_is_holomorphic():
    """np.sinc on complex values (PyTorch's operator database has complex sinc samples): the
    derivative sinc′(z) = (cos πz − sinc z)/z, 0 at z = 0, from the series inside |z| < 1/4,
    in both modes and both branches, against central differences along both axes (a
    holomorphic function's difference quotient is the same in every direction) and JAX's
    convention for a real loss."""
    rng = np.random.default_rng(4)
    z = np.concatenate([rng.standard_normal(5) + 1j * rng.standard_normal(5),
                        [0j, 0.1 + 0.05j, 0.2499j, 0.2501j, -0.17 - 0.17j, 2.5 - 0.3j, 1.0 + 0j]])
    h = 1e-6
    fd_re = (np.sinc(z + h) - np.sinc(z - h)) / (2 * h)
    fd_im = (np.sinc(z + 1j * h) - np.sinc(z - 1j * h)) / (2j * h)
    _, d = ad.jvp(np.sinc, (z,), (np.ones_like(z),))
    for fd in (fd_re, fd_im):
        np.testing.assert_allclose(d, fd, rtol=1e-6, atol=1e-8)
    assert d[5] == 0
    away = np.abs(z) > 0.3  # the closed form, where it does not cancel
    np.testing.assert_allclose(d[away], (np.cos(np.pi * z[away]) - np.sinc(z[away])) / z[away], rtol=1e-12)
    np.testing.assert_allclose(ad.grad(lambda z: np.sum(np.sinc(z)), holomorphic=True)(z), d, rtol=1e-12, atol=1e-15)
    loss = lambda z: np.sum(np.abs(np.sinc(z)) ** 2)
    g = ad.grad(loss)(z)
    np.testing.assert_allclose(g, fd_complex_grad(loss, z), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(g, 2 * np.conj(np.sinc(z)) * d, rtol=1e-12, atol=1e-15)  # as grad(|z|²) = 2 conj(z)
    # the compiled kernels (large arrays) agree with NumPy's evaluation; complex64 stays complex64
    big = np.resize(z, 5000)
    np.testing.assert_allclose(ad.grad(loss)(big), np.resize(g, 5000), rtol=1e-12, atol=1e-15)
    g64 = ad.grad(loss)(z.astype(np.complex64))
    assert g64.dtype == np.complex64
    np.testing.assert_allclose(g64, g, rtol=1e-4, atol=1e-5)
    # second order: −π²/3 at 0, and d(sinc′) by central differences of the first derivative
    d2 = ad.grad(ad.grad(np.sinc, holomorphic=True), holomorphic=True)
    np.testing.assert_allclose(d2(0j), -np.pi**2 / 3, rtol=1e-12)
    w = 0.4 + 0.3j
    first = lambda w: ad.jvp(np.sinc, (w,), (1.0 + 0j,))[1]
    np.testing.assert_allclose(d2(w), (first(w + h) - first(w - h)) / (2 * h), rtol=1e-6)


def _fd2(f, x, h=1e-4):
    return (f(x + h) - 2 * f(x) + f(x - h)) / h**2


def test_remainder_second_order_and_kernels():
    x = np.linspace(-3.0, 3.0, 4001) + 0.013
    g = ad.grad(lambda y: np.sum(np.remainder(x, y)))(0.7)
    np.testing.assert_allclose(g, -np.sum(x // 0.7))
    np.testing.assert_array_equal(ad.grad(lambda x: np.sum(x % 0.7))(x), np.ones_like(x))


PLAIN = {
    "argsort": lambda x: np.argsort(x),
    "searchsorted": lambda x: np.searchsorted(np.sort(x), 0.5),
    "iscomplex": lambda x: np.iscomplex(x),
    "isreal": lambda x: np.isreal(x),
    "isfinite": lambda x: np.isfinite(x),
    "floor_divide": lambda x: np.floor_divide(x, 0.7),
    "signbit": lambda x: np.signbit(x),
    "isposinf": lambda x: np.isposinf(x),
    "argpartition": lambda x: np.argpartition(x, 2),
    "digitize": lambda x: np.digitize(x, [0.0, 1.0]),
    "nanargmax": lambda x: np.nanargmax(x),
}


@pytest.mark.parametrize("name", sorted(PLAIN))
def test_functions_without_derivative_return_plain_arrays(name):
    f = PLAIN[name]
    seen = []
    ad.grad(lambda x: (seen.append(f(x)), np.sum(x))[1])(X)
    assert isinstance(seen[0], (np.ndarray, np.generic, int))
    np.testing.assert_array_equal(seen[0], f(X))


# --- ufunc methods ---------------------------------------------------------------------------


def _add_at(x):
    y = np.zeros(4) * x[0]
    np.add.at(y, [0, 1, 0, 3, 0], x[:5])
    return y


def _subtract_at(x):
    y = x[:4] * 1.0
    np.subtract.at(y, np.array([2, 2]), x[4:])
    return y


def _multiply_at(x):
    y = x[:3] * 1.0
    np.multiply.at(y, [0, 2, 0], x[3:])
    return y


def _maximum_at(x):
    y = x[:3] * 1.0
    np.maximum.at(y, [1, 1], np.array([0.0, 3.0]) * x[4])
    return y


UFUNC_METHODS = {
    "add.at": _add_at,
    "subtract.at": _subtract_at,
    "multiply.at": _multiply_at,
    "maximum.at": _maximum_at,
    "add.reduce": lambda x: np.add.reduce(x.reshape(2, 3), axis=1),
    "multiply.reduce": lambda x: np.multiply.reduce(x),
    "maximum.reduce": lambda x: np.maximum.reduce(x.reshape(2, 3)),
    "logaddexp.reduce": lambda x: np.logaddexp.reduce(x),
    "subtract.reduce": lambda x: np.subtract.reduce(x.reshape(3, 2), axis=0),
    "add.reduce_initial": lambda x: np.add.reduce(x, initial=2.0),
    "add.accumulate": lambda x: np.add.accumulate(x),
    "multiply.accumulate": lambda x: np.multiply.accumulate(x),
    "maximum.accumulate": lambda x: np.maximum.accumulate(x),
    "minimum.accumulate": lambda x: np.minimum.accumulate(x.reshape(2, 3), axis=1),
    "subtract.accumulate": lambda x: np.subtract.accumulate(x),
    "add.outer": lambda x: np.add.outer(x[:2], x[2:]),
    "multiply.outer": lambda x: np.multiply.outer(x[:3], x.reshape(2, 3)),
    "add.reduceat": lambda x: np.add.reduceat(x, [0, 2, 5]),
    "maximum.reduceat": lambda x: np.maximum.reduceat(x, [0, 3, 1]),
}


@pytest.mark.parametrize("name", sorted(UFUNC_METHODS))
def test_ufunc_methods(name):
    f = UFUNC_METHODS[name]
    both_modes(f, X)


def test_ufunc_at_matches_numpy_on_values():
    y = np.zeros(4)
    np.add.at(y, [0, 1, 0, 3, 0], X[:5])
    np.testing.assert_allclose(ad.primal(ad.jvp(_add_at, (X,), (X,))[0]), y)


def test_ufunc_at_on_a_plain_target_says_how():
    def f(x):
        y = np.zeros(3)
        np.add.at(y, [0], x[0])
        return y

    with pytest.raises(TypeError, match="make the target active"):
        ad.jacfwd(f)(X)


def test_ufunc_method_without_rule():
    with pytest.raises(TypeError, match="no derivative rule for np.arctan2|ldexp|gcd"):
        ad.grad(lambda x: np.sum(np.gcd.reduce(x)))(X)


def test_real_if_close():
    """Complex values whose imaginary parts are all negligible come back real (the derivative of
    the real part); otherwise unchanged; real input passes through — as NumPy decides."""
    near = np.array([1.0 + 1e-15j, -2.0 + 0j])
    far = np.array([1.0 + 1e-3j, -2.0 + 0j])
    t = np.array([0.5 + 2.0j, -1.0 + 1.0j])
    y, ty = ad.jvp(np.real_if_close, (near,), (t,))
    assert not np.iscomplexobj(y) and not np.iscomplexobj(ty)
    np.testing.assert_array_equal(y, np.real_if_close(near))
    np.testing.assert_array_equal(ty, t.real)
    y, ty = ad.jvp(np.real_if_close, (far,), (t,))
    np.testing.assert_array_equal(y, far)
    np.testing.assert_array_equal(ty, t)
    np.testing.assert_allclose(ad.grad(lambda x: np.sum(np.real_if_close(x * (1.0 + 1e-16j)) ** 2))(X), 2 * X)


def test_ldexp_frexp_values_and_closed_forms():
    x = np.array([0.3, -5.0, 1e3, 0.0, 5e-324, 1e308])
    m, e = np.frexp(x)
    y, t = ad.jvp(lambda x: np.frexp(x)[0], (x,), (np.ones_like(x),))
    np.testing.assert_array_equal(y, m)  # exact, subnormals and the largest exponents included
    np.testing.assert_array_equal(t, np.ldexp(1.0, -e))  # d/dx (x 2^-e) = 2^-e
    seen = []
    ad.grad(lambda x: seen.append(np.frexp(x)[1]) or np.sum(x))(x)
    assert seen[0].dtype == e.dtype and np.array_equal(seen[0], e)  # the exponent: plain integers
    np.testing.assert_array_equal(ad.grad(lambda x: np.sum(np.ldexp(x, -1070)))(x), np.ldexp(1.0, -1070))
    with pytest.raises(TypeError, match="exponent n must be a plain integer"):
        ad.grad(lambda x: np.sum(np.ldexp(x, x)))(x)

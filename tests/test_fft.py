"""``numpy.fft`` and ``dualad.scipy.fft``: every transform with n/s, axis/axes and norm, stacked
inputs, float32/float64/complex64/complex128, against NumPy's and SciPy's values, central
differences (complex inputs along real and imaginary directions), the bilinear identity
``Σ u·(Jv) = Σ (Jᵀu)·v`` (plain products; real parts where one end is real), jacfwd = jacrev,
closed forms (Parseval) and all four Hessian orders.  Every test runs on both FFT libraries
(ducc0 and NumPy's pocketfft).
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.fft

import dualad as ad
import dualad.rules.fft as rules_fft
import dualad.scipy.fft as dsf
from tests.helpers import fd_complex_grad, fd_directional, fd_jacobian

# name, keyword arguments, input shape, whether the input is complex
CASES = [
    ("fft", {}, (3, 8), True),
    ("fft", {"n": 5, "norm": "ortho"}, (3, 8), True),
    ("fft", {"n": 11, "axis": 0, "norm": "forward"}, (6, 4), True),
    ("fft", {}, (7,), False),
    ("ifft", {"n": 6}, (2, 8), True),
    ("ifft", {"norm": "ortho"}, (2, 7), False),
    ("rfft", {}, (3, 8), False),
    ("rfft", {"n": 7, "norm": "ortho"}, (3, 8), False),
    ("rfft", {"n": 12, "axis": 0, "norm": "forward"}, (9, 2), False),
    ("irfft", {}, (3, 5), True),
    ("irfft", {"n": 9}, (3, 5), True),
    ("irfft", {"n": 6, "axis": 0, "norm": "ortho"}, (5, 3), True),
    ("irfft", {"n": 3, "norm": "forward"}, (2, 5), True),
    ("irfft", {"n": 8}, (5,), False),
    ("hfft", {}, (3, 5), True),
    ("hfft", {"n": 7, "norm": "ortho"}, (5,), True),
    ("ihfft", {}, (3, 8), False),
    ("ihfft", {"n": 7, "norm": "forward"}, (9,), False),
    ("fftn", {}, (3, 4, 5), True),
    ("fftn", {"s": (3, 6), "axes": (0, 2), "norm": "ortho"}, (3, 4, 5), True),
    ("ifftn", {"s": (5, 2), "axes": (-2, -1)}, (3, 4, 5), True),
    ("fft2", {"norm": "forward"}, (2, 4, 5), True),
    ("ifft2", {}, (4, 5), True),
    ("rfftn", {}, (3, 4, 6), False),
    ("rfftn", {"s": (5, 7), "axes": (0, 1)}, (3, 4, 6), False),
    ("rfft2", {"norm": "ortho"}, (2, 4, 5), False),
    ("irfftn", {}, (3, 4, 5), True),
    ("irfftn", {"s": (3, 7), "axes": (1, 2), "norm": "ortho"}, (2, 4, 5), True),
    ("irfft2", {"s": (4, 6)}, (3, 4, 5), True),
    ("fftshift", {}, (3, 4), True),
    ("fftshift", {"axes": 1}, (3, 5), False),
    ("ifftshift", {"axes": (0,)}, (5, 2), True),
]


@pytest.fixture(autouse=True, params=rules_fft.BACKENDS)
def fft_library(request, monkeypatch):
    """Each test once per FFT library (the ducc0 run skips where ducc0 is not installed)."""
    if request.param == "ducc0":
        pytest.importorskip("ducc0")
    monkeypatch.setattr(rules_fft, "backend", lambda: request.param)
    return request.param


IDS = [f"{name}-{i}" for i, (name, *_rest) in enumerate(CASES)]
COMPLEX_LINEAR = {"fft", "ifft", "fftn", "ifftn", "fft2", "ifft2", "fftshift", "ifftshift"}


def _setup(i):
    name, kw, shape, cplx = CASES[i]
    rng = np.random.default_rng(i)
    x = rng.normal(size=shape) + (1j * rng.normal(size=shape) if cplx else 0)
    return (lambda x: getattr(np.fft, name)(x, **kw)), x, rng


def _like(rng, y):
    u = rng.normal(size=np.shape(y))
    return u + 1j * rng.normal(size=np.shape(y)) if np.iscomplexobj(y) else u


def _directions(x, rng):
    t = rng.normal(size=x.shape)
    return [t, 1j * t] if np.iscomplexobj(x) else [t]


@pytest.mark.parametrize("i", range(len(CASES)), ids=IDS)
def test_values_and_dtypes_equal_numpy(i):
    f, x, _ = _setup(i)
    name = CASES[i][0]
    real_only = name in ("rfft", "ihfft", "rfftn", "rfft2")
    for dtype in (np.float32, np.float64) + (() if real_only else (np.complex64, np.complex128)):
        xd = (x.real if np.dtype(dtype).kind == "f" else x).astype(dtype)
        y, y_dot = ad.jvp(f, (xd,), (np.ones_like(xd),))
        expected = f(xd)
        assert y.dtype == expected.dtype and y_dot.dtype == expected.dtype
        tol = 1e-5 if expected.dtype in (np.float32, np.complex64) else 1e-12
        np.testing.assert_allclose(y, expected, rtol=tol, atol=tol)
        np.testing.assert_allclose(y_dot, f(np.ones_like(xd)), rtol=tol, atol=tol)


@pytest.mark.parametrize("i", range(len(CASES)), ids=IDS)
def test_jvp_against_central_differences(i):
    f, x, rng = _setup(i)
    for v in _directions(x, rng):
        _, y_dot = ad.jvp(f, (x,), (v,))
        np.testing.assert_allclose(y_dot, fd_directional(f, x, v), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("i", range(len(CASES)), ids=IDS)
def test_grad_of_a_real_pairing_against_central_differences(i):
    f, x, rng = _setup(i)
    u = _like(rng, f(x))
    loss = lambda x: np.sum(np.real(u * f(x)))
    g = ad.grad(loss)(x)
    expected = fd_complex_grad(loss, x) if np.iscomplexobj(x) else fd_jacobian(loss, [x], 0)
    np.testing.assert_allclose(g, expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("i", range(len(CASES)), ids=IDS)
def test_bilinear_identity(i):
    f, x, rng = _setup(i)
    y, pullback = ad.vjp(f, x)
    u = _like(rng, y)
    (xbar,) = pullback(u)
    assert xbar.dtype == x.dtype
    for v in _directions(x, rng):
        _, jv = ad.jvp(f, (x,), (v,))
        lhs, rhs = np.sum(u * jv), np.sum(xbar * v)
        if CASES[i][0] in COMPLEX_LINEAR and np.iscomplexobj(x):
            np.testing.assert_allclose(lhs, rhs, rtol=1e-10)  # complex-linear: exactly, no real part
        else:
            np.testing.assert_allclose(np.real(lhs), np.real(rhs), rtol=1e-10)


@pytest.mark.parametrize("i", range(len(CASES)), ids=IDS)
def test_jacfwd_equals_jacrev(i):
    f, x, _ = _setup(i)
    y = f(x)
    if np.iscomplexobj(x) and np.iscomplexobj(y):
        fwd = ad.jacfwd(f, holomorphic=True)(x)
        np.testing.assert_allclose(ad.jacrev(f, holomorphic=True)(x), fwd, atol=1e-12)
    elif np.iscomplexobj(x):  # complex to real: jacrev gives ∂/∂x − i ∂/∂y per output
        jx, jy = ad.jacfwd(lambda a, b: f(a + 1j * b), argnums=(0, 1))(x.real, x.imag)
        np.testing.assert_allclose(ad.jacrev(f)(x), jx - 1j * jy, atol=1e-12)
    elif np.iscomplexobj(y):  # real to complex: jacrev of the real and imaginary parts
        re, im = ad.jacrev(lambda a: (np.real(f(a)), np.imag(f(a))))(x)
        np.testing.assert_allclose(ad.jacfwd(f)(x), re + 1j * im, atol=1e-12)
    else:
        np.testing.assert_allclose(ad.jacrev(f)(x), ad.jacfwd(f)(x), atol=1e-12)


# --- closed forms ---------------------------------------------------------------------------


# 600 and 601: half spectra above the size from which the compiled kernels run (abs's adjoint)
@pytest.mark.parametrize("n", [8, 9, 600, 601])
@pytest.mark.parametrize("norm", [None, "ortho", "forward"])
@pytest.mark.parametrize("axis", [-1, 0])
def test_parseval_gradient_of_the_half_spectrum(n, norm, axis):
    x = np.random.default_rng(n).normal(size=(2, n))
    xa = np.ascontiguousarray(np.moveaxis(x, -1, axis))
    g = ad.grad(lambda x: np.sum(np.abs(np.fft.rfft(x, norm=norm, axis=axis)) ** 2))(xa)
    # Σ_k |X_k|² over the half spectrum = (n Σx² + (Σx)² + [n even] (Σ(−1)^j x_j)²) / 2
    alt = (-1.0) ** np.arange(n)
    expected = n * x + np.sum(x, axis=-1, keepdims=True) + (n % 2 == 0) * np.sum(alt * x, axis=-1, keepdims=True) * alt
    scale = {None: 1.0, "ortho": 1.0 / n, "forward": 1.0 / n**2}[norm]
    np.testing.assert_allclose(g, np.moveaxis(scale * expected, -1, axis), rtol=1e-10)


def test_parseval_complex_and_inverse():
    z = np.random.default_rng(3).normal(size=(3, 6)) + 1j * np.random.default_rng(4).normal(size=(3, 6))
    g = ad.grad(lambda z: np.sum(np.abs(np.fft.fft2(z)) ** 2))(z)
    np.testing.assert_allclose(g, 2 * z.size * np.conj(z), rtol=1e-10)  # JAX's ∂/∂x − i ∂/∂y
    for n in (10, 11, 1000):
        y = np.fft.rfft(np.random.default_rng(5).normal(size=(2, n)))
        g = ad.grad(lambda y: np.sum(np.fft.irfft(y, n, norm="ortho") ** 2))(y)
        w = np.where((np.arange(n // 2 + 1) == 0) | (np.arange(n // 2 + 1) == n / 2), 1.0, 2.0)
        np.testing.assert_allclose(g, 2 * w * np.conj(y), rtol=1e-10)  # Σx² = Σ w|y|² for ortho


MODES = ["forward-over-reverse", "reverse-over-reverse", "forward-over-forward", "reverse-over-forward"]


def _scalar(x):
    spectrum = np.fft.rfft(x, norm="ortho")
    return np.sum(np.sin(np.fft.irfft(spectrum**2 * np.array([1.0, 0.5j, 2.0, -1.0]), n=6))) + np.sum(np.abs(spectrum) ** 3)


@pytest.mark.parametrize("mode", MODES)
def test_hessian_all_orders(mode):
    x = np.random.default_rng(11).normal(size=6)
    H = ad.hessian(_scalar, mode=mode)(x)
    expected = fd_jacobian(lambda z: ad.grad(_scalar)(z), [x], 0, eps=1e-5)
    np.testing.assert_allclose(H, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(H, H.T, atol=1e-10)


def test_float32_gradients_stay_single_precision():
    x = np.random.default_rng(2).normal(size=(2, 16))
    loss = lambda x: np.sum(np.abs(np.fft.rfft(x)) ** 2) + np.sum(np.fft.irfft(np.fft.fft(x), n=9))
    g32, g64 = ad.grad(loss)(x.astype(np.float32)), ad.grad(loss)(x)
    assert g32.dtype == np.float32
    np.testing.assert_allclose(g32, g64, rtol=1e-4, atol=1e-4)
    z = (x + 1j).astype(np.complex64)
    gz = ad.grad(lambda z: np.sum(np.abs(np.fft.ifftn(z, s=(3, 8))) ** 2))(z)
    assert gz.dtype == np.complex64


def test_frequencies_are_constants():
    x = np.random.default_rng(6).normal(size=8)
    k = np.fft.rfftfreq(8, d=0.5)
    g = ad.grad(lambda x: np.sum(np.real(np.fft.irfft(np.fft.rfft(x) * np.exp(-2j * np.pi * k), n=8))))(x)
    expected = fd_jacobian(lambda x: np.sum(np.real(np.fft.irfft(np.fft.rfft(x) * np.exp(-2j * np.pi * k), n=8))), [x], 0)
    np.testing.assert_allclose(g, expected, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(np.fft.fftshift(np.fft.fftfreq(8)), np.sort(np.fft.fftfreq(8)))


# --- dualad.scipy.fft -----------------------------------------------------------------------

SCIPY = [
    ("fft", {"n": 6, "norm": "ortho"}, True), ("irfft", {"n": 7}, True), ("rfft", {"axis": 0}, False),
    ("hfft", {}, True), ("ihfft", {"norm": "forward"}, False), ("fftn", {"s": (2, 5)}, True),
    ("rfft2", {}, False), ("irfftn", {"axes": (0,)}, True), ("hfft2", {"s": (3, 6)}, True),
    ("hfftn", {"norm": "ortho"}, True), ("ihfft2", {}, False), ("ihfftn", {"axes": (1,), "s": (7,)}, False),
    ("ifft2", {"norm": "forward"}, True), ("fftshift", {}, False), ("ifftshift", {"axes": 0}, True),
]  # fmt: skip


@pytest.mark.parametrize("name,kw,cplx", SCIPY, ids=[s[0] for s in SCIPY])
def test_scipy_fft(name, kw, cplx):
    rng = np.random.default_rng(len(name))
    x = rng.normal(size=(3, 4)) + (1j * rng.normal(size=(3, 4)) if cplx else 0)
    ours, theirs = getattr(dsf, name), getattr(scipy.fft, name)
    np.testing.assert_allclose(ours(x, **kw), theirs(x, **kw), rtol=1e-12, atol=1e-12)
    u = _like(rng, theirs(x, **kw))
    loss = lambda x: np.sum(np.real(u * ours(x, **kw)))
    plain = lambda x: np.sum(np.real(u * theirs(x, **kw)))
    expected = fd_complex_grad(plain, x) if cplx else fd_jacobian(plain, [x], 0)
    np.testing.assert_allclose(ad.grad(loss)(x), expected, rtol=1e-6, atol=1e-6)


def test_scipy_fft_extras():
    np.testing.assert_array_equal(dsf.fftfreq(7, d=0.3), scipy.fft.fftfreq(7, d=0.3))
    np.testing.assert_array_equal(dsf.rfftfreq(8, 2.0), scipy.fft.rfftfreq(8, 2.0))
    x = np.arange(4.0)
    np.testing.assert_allclose(dsf.fft(x, overwrite_x=True, workers=2), scipy.fft.fft(x))
    with pytest.raises(NotImplementedError, match="plan"):
        dsf.rfft(x, plan=object())


# --- refused --------------------------------------------------------------------------------


@pytest.mark.parametrize("what,f,exc,match", [
    ("bad norm", lambda x: np.fft.fft(x, norm="none"), ValueError, "Invalid norm value"),
    ("complex rfft", lambda x: np.fft.rfft(x * 1j), TypeError, "takes real input"),
    ("out", lambda x: np.fft.fft(x, out=np.zeros(4, complex)), TypeError, "drop out="),
    ("zero points", lambda x: np.fft.fft(x, n=0), ValueError, "Invalid number of FFT data points"),
    ("s and axes", lambda x: np.fft.fftn(x, s=(2, 2), axes=(0,)), ValueError, "Shape and axes"),
])  # fmt: skip
def test_refused(what, f, exc, match):
    with pytest.raises(exc, match=match):
        ad.grad(lambda x: np.sum(np.abs(f(x)) ** 2))(np.arange(4.0))


def test_scipy_fft_itself_names_the_replacement():
    with pytest.raises(TypeError, match=r"Use dualad\.scipy\.fft\.rfft"):
        ad.grad(lambda x: np.sum(np.abs(scipy.fft.rfft(x)) ** 2))(np.arange(4.0))


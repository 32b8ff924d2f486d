"""Complex numbers, with JAX's conventions (docs/complex.md).

A real-valued function of complex inputs has the gradient ``∂f/∂x − i ∂f/∂y`` (what
``jax.grad`` returns); ``holomorphic=True`` gives ``f'(z)``; vjp is the plain transpose of the
(real-linear) jvp, so ``Re Σ u·(Jv) = Re Σ (Jᵀu)·v`` always and, for a holomorphic f, without
the real part.  Checked against closed forms derived by hand (which are also what JAX returns for
them) and central differences along real and imaginary directions.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dualad as ad
from dualad.rules import RULES
from tests.helpers import fd_complex_grad, fd_directional

Z = np.array([1.0 + 2.0j, 0.5 - 1.0j, -2.0 + 0.3j])
RNG = np.random.default_rng(7)


def _close(a, b, rtol=1e-6, atol=1e-8):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=rtol, atol=atol)


# --- closed forms ---------------------------------------------------------------------------


def test_abs_squared_is_twice_the_conjugate():
    assert complex(ad.grad(lambda z: abs(z) ** 2)(1 + 2j)) == 2 - 4j
    _close(ad.grad(lambda z: np.sum(np.abs(z) ** 2))(Z), 2 * np.conj(Z))
    _close(ad.grad(lambda z: np.sum(np.real(np.conj(z) * z)))(Z), 2 * np.conj(Z))
    _close(ad.grad(lambda z: np.sum((z.conj() * z).real))(Z), 2 * np.conj(Z))


@pytest.mark.parametrize("f,df", [
    (lambda z: z**2, lambda z: 2 * z),
    (np.exp, np.exp),
    (np.log, lambda z: 1 / z),
    (np.sin, np.cos),
    (lambda z: 1 / z, lambda z: -1 / z**2),
    (np.sqrt, lambda z: 0.5 / np.sqrt(z)),
], ids=["square", "exp", "log", "sin", "reciprocal", "sqrt"])
def test_holomorphic_derivatives(f, df):
    for z in Z:
        assert np.isclose(ad.grad(f, holomorphic=True)(z), df(z))
        assert np.isclose(ad.derivative(f)(z), df(z))
    _close(ad.jacfwd(f, holomorphic=True)(Z), np.diag(df(Z)))
    _close(ad.jacrev(f, holomorphic=True)(Z), np.diag(df(Z)))
    _close(ad.jacobian(f, holomorphic=True)(Z), np.diag(df(Z)))


def test_parts_and_angle():
    z = 1 + 2j
    assert complex(ad.grad(np.real)(z)) == 1
    assert complex(ad.grad(np.imag)(z)) == -1j
    assert np.isclose(ad.grad(np.abs)(z), np.conj(z) / abs(z))
    assert np.isclose(ad.grad(np.angle)(z), -1j / z)            # arg z = Im log z
    assert np.isclose(ad.grad(lambda z: np.abs(np.exp(z)) ** 2)(z), 2 * np.exp(2 * z.real))


def test_real_inputs_through_complex_values():
    # f(x) = |x (1 + 2i)|² = 5x²: a real input's derivative is the real part
    assert np.isclose(ad.grad(lambda x: np.abs(x * (1 + 2j)) ** 2)(3.0), 30.0)
    y, pullback = ad.vjp(lambda x: x * (1 + 2j), 3.0)
    assert np.isclose(pullback(1 + 1j)[0], -1.0) and pullback(1 + 1j)[0].dtype == np.float64   # Re((1+2i)(1+i))
    _, t = ad.jvp(lambda x: x * (1 + 2j), (3.0,), (1.0,))
    assert t == 1 + 2j


def test_least_squares_gradient():
    A = RNG.standard_normal((5, 3)) + 1j * RNG.standard_normal((5, 3))
    b = RNG.standard_normal(5) + 1j * RNG.standard_normal(5)
    x = RNG.standard_normal(3) + 1j * RNG.standard_normal(3)

    def loss(x):
        r = A @ x - b
        return np.sum(np.abs(r) ** 2)

    expected = 2 * np.conj(A.conj().T @ (A @ x - b))         # ∂L/∂x − i∂L/∂y
    _close(ad.grad(loss)(x), expected)
    _close(ad.grad(loss)(x), fd_complex_grad(loss, x), rtol=1e-5, atol=1e-6)
    _close(ad.jacrev(loss)(x), expected)
    _close(ad.jacobian(loss)(x), expected)


def test_parts_on_real_values_are_trivial():
    x = np.array([1.5, -2.0])
    _close(ad.grad(lambda x: np.sum(np.real(x) * 3.0))(x), [3.0, 3.0])
    _close(ad.grad(lambda x: np.sum(np.imag(x) + x))(x), [1.0, 1.0])
    _close(ad.grad(lambda x: np.sum(np.conj(x) * x))(x), 2 * x)
    _close(ad.jacfwd(lambda x: np.angle(x) + x.conj() + x.real)(x), 2 * np.eye(2))
    _close(ad.grad(lambda x: np.sum(x.imag))(x), [0.0, 0.0])


# --- JAX's errors ---------------------------------------------------------------------------


def test_complex_output_needs_holomorphic():
    for t in (ad.grad, ad.value_and_grad):
        with pytest.raises(TypeError, match="requires real-valued outputs.*holomorphic=True"):
            t(lambda z: z**2)(1 + 2j)
    with pytest.raises(TypeError, match="jacrev requires real-valued outputs"):
        ad.jacrev(lambda z: z**2)(Z)
    with pytest.raises(TypeError, match="jacfwd requires real-valued inputs"):
        ad.jacfwd(lambda z: np.abs(z))(Z)
    with pytest.raises(TypeError, match="real-valued inputs"):
        ad.hessian(lambda z: np.sum(np.abs(z) ** 2))(Z)
    with pytest.raises(TypeError, match="jacfwd requires real-valued inputs"):
        ad.jacobian(lambda z: np.abs(z), mode="forward")(Z)


@pytest.mark.parametrize("name", ["grad", "value_and_grad", "jacfwd", "jacrev", "jacobian"])
def test_holomorphic_needs_complex_inputs_and_outputs(name):
    t = getattr(ad, name)
    with pytest.raises(TypeError, match="holomorphic=True requires inputs with complex dtype, but got float64"):
        t(lambda z: z**2, holomorphic=True)(np.float64(1.0))
    with pytest.raises(TypeError, match="holomorphic=True requires outputs with complex dtype, but got float64"):
        t(lambda z: np.sum(np.abs(z)), holomorphic=True)(Z)


def test_rules_without_complex_derivative_refuse_complex():
    with pytest.raises(TypeError, match="floor takes real values only"):
        ad.grad(lambda z: np.sum(np.abs(np.floor(z))))(Z)
    with pytest.raises(TypeError, match="discard its imaginary part"):
        ad.grad(lambda z: np.sum(z.astype(np.float64)))(Z)


# --- jvp, vjp and the transpose --------------------------------------------------------------

NONHOLOMORPHIC = [
    lambda z: np.abs(z) * z,
    lambda z: np.conj(z) * np.exp(z),
    lambda z: np.angle(z) + 1j * np.real(z) ** 2,
    lambda z: np.imag(z) * np.sin(z) + np.sqrt(np.abs(z)),
]


@pytest.mark.parametrize("f", NONHOLOMORPHIC, ids=["abs", "conj", "angle", "imag"])
def test_jvp_is_the_real_linear_derivative(f):
    v = RNG.standard_normal(3) + 1j * RNG.standard_normal(3)
    _, t = ad.jvp(f, (Z,), (v,))
    _close(t, fd_directional(f, Z, v), rtol=1e-5, atol=1e-6)
    # forward over a Dual by hand, and on a Variable: the same numbers
    _close(f(ad.Dual(Z, v)).tangent, t)


@pytest.mark.parametrize("f", NONHOLOMORPHIC, ids=["abs", "conj", "angle", "imag"])
def test_vjp_is_the_plain_transpose(f):
    u = RNG.standard_normal(3) + 1j * RNG.standard_normal(3)
    v = RNG.standard_normal(3) + 1j * RNG.standard_normal(3)
    _, jv = ad.jvp(f, (Z,), (v,))
    _, pullback = ad.vjp(f, Z)
    (ju,) = pullback(u)
    assert np.isclose(np.real(np.sum(u * jv)), np.real(np.sum(ju * v)))


def test_vjp_of_holomorphic_is_the_plain_transpose_exactly():
    A = RNG.standard_normal((3, 3)) + 1j * RNG.standard_normal((3, 3))

    def f(z):
        return np.exp(A @ z) * z + np.log(z) ** 2

    u = RNG.standard_normal(3) + 1j * RNG.standard_normal(3)
    v = RNG.standard_normal(3) + 1j * RNG.standard_normal(3)
    _, jv = ad.jvp(f, (Z,), (v,))
    (ju,) = ad.vjp(f, Z)[1](u)
    assert np.isclose(np.sum(u * jv), np.sum(ju * v))
    J = ad.jacfwd(f, holomorphic=True)(Z)
    _close(J, ad.jacrev(f, holomorphic=True)(Z))
    _close(jv, J @ v)
    _close(ju, J.T @ u)                                        # no conjugate


def test_variable_backward_on_complex():
    z = ad.Variable(Z)
    y = np.sum(np.abs(np.sin(z)) ** 2)
    y.backward()
    _close(z.grad, fd_complex_grad(lambda z: np.sum(np.abs(np.sin(z)) ** 2), Z), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
def test_dtypes_are_kept(dtype):
    z = Z.astype(dtype)
    g = ad.grad(lambda z: np.sum(np.abs(np.exp(z) * z) ** 2))(z)
    assert g.dtype == dtype
    J = ad.jacfwd(lambda z: z * np.sin(z), holomorphic=True)(z)
    assert J.dtype == dtype
    assert ad.grad(lambda z: np.sum(np.abs(z)))(z).dtype == dtype
    tol = 1e-3 if dtype == np.complex64 else 1e-7
    _close(g, ad.grad(lambda z: np.sum(np.abs(np.exp(z) * z) ** 2))(Z), rtol=tol, atol=tol)


@pytest.mark.parametrize("f", [lambda x: 1j * x, lambda x: x + 1j, lambda x: np.multiply(x, 1j),
                               lambda x: np.exp(1j * x), lambda x: x / (1 + 1j)])
def test_python_complex_scalars_are_weakly_typed(f):
    # NumPy (NEP 50) keeps float32 and a Python complex as complex64: so must every mode,
    # the value included (a complex128 tangent for a complex64 value was the bug)
    x = np.linspace(0.5, 1.5, 3).astype(np.float32)
    want = f(x).dtype
    assert want == np.complex64
    y, t = ad.jvp(f, (x,), (np.ones_like(x),))
    assert y.dtype == want and t.dtype == want
    y, pull = ad.vjp(f, x)
    assert y.dtype == want and pull(np.ones(3, want))[0].dtype == np.float32
    # the value itself, and the tangent against central differences in float64
    x64 = x.astype(np.float64)
    _close(y, f(x), rtol=1e-6)
    _close(t, (f(x64 + 1e-6) - f(x64 - 1e-6)) / 2e-6, rtol=1e-4, atol=1e-5)


def test_mixed_real_and_complex_arguments():
    def f(x, z):
        return np.sum(np.abs(x * z + x**2) ** 2)

    x = np.array([0.3, -1.2, 2.0])
    gx, gz = ad.grad(f, argnums=(0, 1))(x, Z)
    assert gx.dtype == np.float64 and gz.dtype == np.complex128
    _close(gz, fd_complex_grad(lambda z: f(x, z), Z), rtol=1e-5, atol=1e-6)
    fdx = [fd_directional(lambda x: f(x, Z), x, e) for e in np.eye(3)]
    _close(gx, fdx, rtol=1e-5, atol=1e-6)


# --- nesting ----------------------------------------------------------------------------------


def _f_real(z):
    return np.sum(np.abs(z) ** 3 + np.real(np.exp(z) * np.conj(z)))


@pytest.mark.parametrize("order", ["forward-over-reverse", "reverse-over-reverse"])
def test_hvp_of_real_function_of_complex_inputs(order):
    v = RNG.standard_normal(3) + 1j * RNG.standard_normal(3)
    expected = fd_directional(ad.grad(_f_real), Z, v, eps=1e-5)
    if order == "forward-over-reverse":
        got = ad.hvp(_f_real, Z, v)
    else:
        # the vjp of the gradient along conj(v) ... its real-linear transpose: pull v through jvp
        got = ad.jvp(ad.grad(_f_real), (Z,), (v,))[1]
    _close(got, expected, rtol=1e-5, atol=1e-5)


def test_second_derivatives_of_holomorphic_functions():
    f = lambda z: np.exp(z) * z**3
    d2 = lambda z: np.exp(z) * (z**3 + 6 * z**2 + 6 * z)
    for z in Z:
        assert np.isclose(ad.derivative(f, order=2)(z), d2(z))
        g = ad.grad(f, holomorphic=True)
        assert np.isclose(ad.grad(g, holomorphic=True)(z), d2(z))
        assert np.isclose(ad.derivative(g)(z), d2(z))


@pytest.mark.parametrize("mode", ["forward-over-reverse", "reverse-over-reverse", "forward-over-forward", "reverse-over-forward"])
def test_holomorphic_hessian_all_orders(mode):
    f = lambda z: np.sum(np.exp(z) * z**3)
    d2 = np.exp(Z) * (Z**3 + 6 * Z**2 + 6 * Z)
    _close(ad.hessian(f, mode=mode, holomorphic=True)(Z), np.diag(d2))


def test_nested_abs_second_derivative():
    # d/dx of grad |z|² along x is 2 (grad = 2 conj z); along iy it is -2i
    g = ad.grad(lambda z: np.sum(np.abs(z) ** 2))
    assert np.isclose(ad.jvp(g, (1 + 2j,), (1.0 + 0j,))[1], 2.0)
    assert np.isclose(ad.jvp(g, (1 + 2j,), (1j,))[1], -2j)
    # through a Variable at the outer level: reverse over reverse of a real-valued function
    gg = ad.grad(lambda z: np.real(np.sum(g(z) * np.conj(g(z)))))(Z)          # |2z|² summed → 8 conj z
    _close(gg, 8 * np.conj(Z))


# --- properties ----------------------------------------------------------------------------------

finite = st.floats(-2.0, 2.0, allow_nan=False)


@settings(max_examples=40, deadline=None)
@given(finite, finite, finite, finite)
def test_property_real_gradient_matches_differences(a, b, c, d):
    z = np.array([a + 1j * b, c + 1j * d])

    def f(z):
        return np.sum(np.abs(np.sin(z) + z * z) ** 2 + np.real(z) * np.imag(z))

    _close(ad.grad(f)(z), fd_complex_grad(f, z), rtol=1e-4, atol=1e-4)


@settings(max_examples=40, deadline=None)
@given(finite, finite)
def test_property_holomorphic_forward_equals_reverse(a, b):
    z = np.array([a + 1j * b, 0.5 + 0.5j])

    def f(z):
        return np.exp(z) * np.cos(z[::-1]) + z**3

    _close(ad.jacfwd(f, holomorphic=True)(z), ad.jacrev(f, holomorphic=True)(z), rtol=1e-9, atol=1e-12)


# --- optimisers -------------------------------------------------------------------------------


def _least_squares():
    rng = np.random.default_rng(3)
    A = rng.standard_normal((8, 3)) + 1j * rng.standard_normal((8, 3))
    b = rng.standard_normal(8) + 1j * rng.standard_normal(8)
    x_star = np.linalg.lstsq(A, b, rcond=None)[0]
    return A, b, x_star


@pytest.mark.parametrize("opt", [
    ad.optim.SGD(0.02), ad.optim.SGD(0.01, momentum=0.9), ad.optim.SGD(0.01, momentum=0.9, nesterov=True),
    ad.optim.Adam(0.05),
], ids=["sgd", "momentum", "nesterov", "adam"])
def test_optimisers_solve_complex_least_squares(opt):
    A, b, x_star = _least_squares()

    def loss(p):
        return np.sum(np.abs(A @ p["x"] - b) ** 2)

    params = {"x": np.zeros(3, dtype=np.complex128)}
    state = opt.init(params)
    for _ in range(1500):
        params, state = opt.update(ad.grad(loss)(params), state, params)
    assert params["x"].dtype == np.complex128
    _close(params["x"], x_star, rtol=1e-4, atol=1e-4)


def test_adam_second_moment_is_real_and_step_style_converges():
    A, b, x_star = _least_squares()
    w = ad.Variable(np.zeros(3, dtype=np.complex64))
    opt = ad.optim.Adam(0.05)
    for _ in range(1500):
        opt.zero_grad([w])
        np.sum(np.abs(A.astype(np.complex64) @ w - b.astype(np.complex64)) ** 2).backward()
        opt.step([w])
    assert w.value.dtype == np.complex64
    _close(w.value, x_star, rtol=1e-3, atol=1e-3)
    state = ad.optim.Adam(0.1).init(np.zeros(2, dtype=np.complex128))
    assert state.mu.dtype == np.complex128 and state.nu.dtype == np.float64


def test_one_sgd_step_descends_along_the_conjugate():
    z = np.array([1.0 + 2.0j])
    g = ad.grad(lambda z: np.sum(np.abs(z) ** 2))(z)          # 2 conj(z)
    opt = ad.optim.SGD(0.25)
    new, _ = opt.update(g, opt.init(z), z)
    _close(new, z - 0.25 * 2 * z)                               # halfway to 0, not rotated


# --- NumPy functions on complex values ------------------------------------------------------------


def test_numpy_reductions_of_complex_values():
    def f(z):
        return np.var(z) + np.linalg.norm(z) + np.real(np.vdot(z, z[::-1])) + np.std(z) + np.imag(np.mean(z * z))

    value, g = ad.value_and_grad(f)(Z)
    assert np.isclose(value, f(Z))
    _close(g, fd_complex_grad(f, Z), rtol=1e-5, atol=1e-6)


W = np.array([1.0 + 2.0j, -0.5 + 0.1j, 1.0 + 0.5j, 0.3 - 1.0j, 1.0 + 2.0j])


@pytest.mark.parametrize("reduce_", [np.max, np.amax, np.min, np.amin])
def test_max_and_min_of_complex_values_pick_numpys_element(reduce_):
    """NumPy's lexicographic choice, derivative 1 there, ties split evenly (JAX's convention:
    jax.jacfwd(jnp.max, holomorphic=True) gives [0.5, 0, 0, 0, 0.5] here)."""
    picked = W == reduce_(W)
    want = picked / picked.sum()
    assert ad.primal(ad.jvp(reduce_, (W,), (np.ones_like(W),))[0]) == reduce_(W)
    for jac in (ad.jacfwd, ad.jacrev):
        _close(jac(reduce_, holomorphic=True)(W), want)
    # a real-valued function: ∂f/∂x − i∂f/∂y, against differences (distinct real parts: no
    # perturbation changes the pick)
    z = np.array([1.0 + 2.0j, -0.5 + 0.1j, 0.7 + 0.5j, 0.3 - 1.0j])
    f = lambda z: np.abs(reduce_(z)) ** 2 + np.imag(reduce_(3.0 * z - 1.0))
    _close(ad.grad(f)(z), fd_complex_grad(f, z), rtol=1e-5, atol=1e-6)
    # along an axis, and nested: d²/dz² of max(z)³ is 6 max(z) at the picked element
    M = W[:4].reshape(2, 2)
    _close(ad.jacrev(lambda m: reduce_(m, axis=0), holomorphic=True)(M).reshape(2, 4),
           np.stack([(np.arange(4) % 2 == j) & (M.ravel() == reduce_(M, axis=0)[j]) for j in range(2)]))
    h = ad.hessian(lambda z: reduce_(z) ** 3, holomorphic=True)(z)
    k = int(np.flatnonzero(z == reduce_(z))[0])
    _close(h, np.diag(np.eye(4)[k] * 6 * z[k]))


@pytest.mark.parametrize("fname", ["erf", "erfc"])
def test_erf_of_complex_values_is_holomorphic(fname):
    from scipy import special

    f = getattr(special, fname)
    df = lambda z: (1.0 if fname == "erf" else -1.0) * 2.0 / np.sqrt(np.pi) * np.exp(-z * z)
    for z in (Z, np.resize(Z, 600)):  # NumPy evaluation; above the kernel threshold (NumPy again: no complex kernel)
        _close(ad.grad(lambda z: np.sum(f(z)), holomorphic=True)(z), df(z))
        _close(ad.jvp(f, (z,), (np.ones_like(z),))[1], df(z))
    _close(ad.grad(lambda z: np.sum(f(z)), holomorphic=True)(Z.astype(np.complex64)), df(Z), rtol=1e-5, atol=1e-6)
    _close(ad.grad(lambda z: np.sum(np.abs(f(z)) ** 2))(Z), fd_complex_grad(lambda z: np.sum(np.abs(f(z)) ** 2), Z), rtol=1e-5)
    _close(np.diag(ad.hessian(lambda z: np.sum(f(z)), holomorphic=True)(Z)), -2 * Z * df(Z))


def test_linear_algebra_of_complex_matrices():
    A = RNG.standard_normal((3, 3)) + 1j * RNG.standard_normal((3, 3)) + 3 * np.eye(3)
    b = RNG.standard_normal(3) + 1j * RNG.standard_normal(3)

    def f(A):
        return np.abs(np.linalg.det(A)) ** 2 + np.real(np.sum(np.linalg.inv(A) @ b)) + np.imag(np.sum(np.linalg.solve(A, b)))

    _close(ad.grad(f)(A), fd_complex_grad(f, A), rtol=1e-5, atol=1e-6)
    # holomorphic: d det / dA = det(A) A^{-T} (plain transpose)
    G = ad.grad(np.linalg.det, holomorphic=True)(A)
    _close(G, np.linalg.det(A) * np.linalg.inv(A).T)


def test_check_grads_on_complex_functions(monkeypatch):
    ad.check_grads(lambda z: np.sin(z) * np.conj(z), (Z,), order=2)
    ad.check_grads(lambda z: np.abs(z) ** 3 + np.angle(z), (Z,), order=2)
    # a conj whose derivative forgot to conjugate (ż instead of conj(ż)): check_grads notices
    monkeypatch.setattr(RULES["conjugate"], "wirtinger", lambda z: (1.0, 0.0))
    with pytest.raises(AssertionError, match="check_grads"):
        ad.check_grads(lambda z: np.conj(z) * z, (Z,), order=1, modes=("forward",))


def test_check_grads_takes_jax_mode_names_and_tolerances_per_dtype(monkeypatch):
    ad.check_grads(lambda z: np.sin(z) * np.conj(z), (Z,), 2, ["fwd", "rev"], atol={np.complex128: 1e-6})
    monkeypatch.setattr(RULES["conjugate"], "wirtinger", lambda z: (1.0, 0.0))  # a wrong rule is caught
    with pytest.raises(AssertionError, match="check_grads"):
        ad.check_grads(lambda z: np.conj(z) * z, (Z,), 1, ["fwd"], rtol={np.float32: 1.0})


def test_backward_of_a_complex_output_needs_a_gradient():
    z = ad.Variable(Z)
    y = np.sum(z * z)
    with pytest.raises(TypeError, match="gradient="):
        y.backward()
    y.backward(gradient=np.array(1.0 + 0j))
    _close(z.grad, 2 * Z)                                      # ȳ f'(z), no conjugate


def test_jacobian_of_real_inputs_with_complex_outputs():
    x = np.array([0.3, 1.2])

    def f(x):
        return np.exp(1j * x) * x

    expected = np.diag(np.exp(1j * x) * (1j * x + 1))
    jac = ad.jacobian(f)
    _close(jac(x), expected)
    assert jac.decision.mode == "forward"
    _close(ad.jacfwd(f)(x), expected)
    with pytest.raises(TypeError, match="jacobian requires real-valued outputs"):
        ad.jacobian(f, mode="reverse")(x)
    with pytest.raises(NotImplementedError, match="dense and serial"):
        ad.jacobian(lambda z: np.abs(z), sparsity="auto")(Z)


def test_trace_prints_complex_values():
    t = ad.trace(lambda z: np.abs(np.exp(z)) ** 2, 1.0 + 2.0j)
    assert "1+2i" in str(t)
    assert "absolute′(v₁)[v̇₁]" in str(t) and "absolute′(v₁)ᵀ[v̄₂]" in str(t)   # real-linear, not a product
    _close(t.grad[0], ad.grad(lambda z: np.abs(np.exp(z)) ** 2)(1.0 + 2.0j))


def test_recordings_replay_complex_gradients():
    def f(z):
        return np.sum(np.abs(np.exp(z) * z) ** 2)

    rec = ad.record(f, Z)
    for z in (Z, 0.5 * Z):
        _close(rec.grad(z), ad.grad(f)(z))
        _close(rec.grad(z), fd_complex_grad(f, z), rtol=1e-5, atol=1e-5)
    with pytest.raises(TypeError, match="real-valued output"):
        ad.record(lambda z: np.sum(z * z), Z).grad(Z)


# --- structural ops on complex values: JAX's plain transposes, checked by check_grads ----------------

_ZM = np.random.default_rng(11).standard_normal((3, 4)) + 1j * np.random.default_rng(12).standard_normal((3, 4))
_WM = np.random.default_rng(13).standard_normal((4, 2)) + 1j * np.random.default_rng(14).standard_normal((4, 2))


def _assign(z):
    y = z.copy()
    y[0, 1] = z[1, 1] * 2
    return y


STRUCTURAL = {
    "sum": lambda z: np.sum(z * z, axis=0),
    "mean": lambda z: np.mean(z, axis=1) * z[:, 0],
    "cumsum": lambda z: np.cumsum(z, axis=1),
    "cumprod": lambda z: np.cumprod(z, axis=1),
    "prod": lambda z: np.prod(z, axis=0),
    "dot": lambda z: np.dot(z, _WM),
    "matmul": lambda z: z @ _WM @ _WM.T,
    "outer": lambda z: np.outer(z[0], z[1]),
    "tensordot": lambda z: np.tensordot(z, _WM, axes=1),
    "einsum": lambda z: np.einsum("ij,jk->ik", z, _WM),
    "reshape": lambda z: np.reshape(z, (2, 6)).T[::2] * 1j,
    "index": lambda z: z[[0, 2], 1:3] ** 2,
    "concatenate": lambda z: np.concatenate([z, np.conj(z)], axis=0),
    "stack": lambda z: np.stack([z.real, z.imag, np.abs(z)]),
    "where": lambda z: np.where(np.real(z) > 0, z, np.conj(z) * 2),
    "var": lambda z: np.var(z, axis=0),
    "norm": lambda z: np.linalg.norm(z, axis=1),
    "trace": lambda z: np.trace(z[:, :3] @ z[:, :3].T),
    "diag": lambda z: np.diag(z[:, :3]) * np.exp(z[0, :3]),
    "tile": lambda z: np.tile(z[0], 2),
    "flip-roll": lambda z: np.flip(z, axis=1) * np.roll(z, 1),
    "setitem": _assign,
    "inv": lambda z: np.linalg.inv(z[:, :3] + 3 * np.eye(3)),
    "solve": lambda z: np.linalg.solve(z[:, :3] + 3 * np.eye(3), z[:, 3]),
    "det": lambda z: np.linalg.det(z[:, :3]),
    "slogdet": lambda z: np.linalg.slogdet(z[:, :3] + 3 * np.eye(3))[1],
    "vdot": lambda z: np.vdot(z, z[::-1]),
    "triu": lambda z: np.triu(z),
}


@pytest.mark.parametrize("name", list(STRUCTURAL))
def test_structural_ops_on_complex_values(name):
    ad.check_grads(STRUCTURAL[name], (_ZM,), order=2)


# --- linear algebra of complex matrices (plain transposes), and what is refused for now ----------


def test_linalg_functions_on_complex_matrices():
    import dualad.scipy.linalg as dsl

    rng = np.random.default_rng(5)
    A = rng.standard_normal((3, 3)) + 1j * rng.standard_normal((3, 3))
    B = rng.standard_normal((3, 3)) + 1j * rng.standard_normal((3, 3))
    b = rng.standard_normal(3) + 1j * rng.standard_normal(3)
    H = A @ A.conj().T + 3 * np.eye(3)
    cases = [
        (lambda M: np.real(np.sum(np.linalg.matrix_power(M, 3))), A),
        (lambda M: np.real(np.sum(dsl.solve_triangular(M, b, lower=True))), np.tril(A) + 3 * np.eye(3)),
        (lambda M: np.imag(np.sum(dsl.expm(0.3 * M))), A),
        (lambda M: np.real(np.sum(dsl.sqrtm(M))), H),
        (lambda M: np.real(np.sum(dsl.solve_sylvester(M + 4 * np.eye(3), B, B))), A),
        (lambda M: np.abs(np.sum(np.linalg.multi_dot([M, B, M]))), A),
    ]
    for f, M in cases:
        _close(ad.grad(f)(M), fd_complex_grad(f, M), rtol=1e-5, atol=1e-5)
    # the decompositions take complex matrices too (tests/test_linalg_complex.py checks each)
    for f, M in [(np.linalg.cholesky, H), (np.linalg.eigvalsh, H), (np.linalg.pinv, A), (np.linalg.svdvals, A)]:
        loss = lambda M, f=f: np.sum(np.abs(f(M + np.conj(M.T)) if f is np.linalg.eigvalsh else f(M)) ** 2)
        _close(ad.grad(loss)(M), fd_complex_grad(loss, M), rtol=1e-5, atol=1e-5)

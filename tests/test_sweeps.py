"""The VM's compiled lane sweeps (dualad.kernels.vm_lanes, dualad.transforms.sweeps): forward
Jacobians with k lanes and forward-over-reverse Hessians of recordings, dense or coloured,
against the uncompiled transforms on random programs, float32, long loops, and under ``jit``."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import pendulum
from hypothesis import HealthCheck, event, given, settings
from random_programs import programs

import dualad as ad
from dualad.transforms.sweeps import LANES_MAX, HessianPlan, hessian_lanes, lanes_apply, second_order, value_and_jacfwd

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                      HealthCheck.filter_too_much])


def rosen(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def _close(got, want, rtol, atol):
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape
    scale = max(1.0, float(np.max(np.abs(want)))) if want.size else 1.0
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol * scale)


def _moved(args, seed, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return [(a + 0.01 * rng.standard_normal(a.shape)).astype(dtype) for a in args]


@settings(max_examples=40, **SETTINGS)
@given(programs(max_steps=5))
def test_random_program_hessians_by_compiled_lanes(prog):
    """Recording.hessian: forward-over-reverse lanes through the VM where the program has no
    host step, against the plain ad.hessian; the sweep itself is checked directly too, so a
    fallback to the replay cannot hide it."""
    args, h = prog.args(), prog.hess_arg
    moved = _moved(args, prog.seed % 971)
    new = [moved[i] if i == h else a for i, a in enumerate(args)]
    rec = ad.record(prog, *args, argnums=h)
    want = ad.hessian(prog, argnums=h)(*new)
    _close(rec.hessian(*new), want, 1e-9, 1e-10)
    p = rec.program()
    applies = lanes_apply(p) and second_order(p) and rec.outs[0][0] == "n"
    event(f"compiled lanes: {applies}")
    if applies:
        n = new[h].size
        value, g, HV = hessian_lanes(p, [new[h]], rec.outs[0][1], np.eye(n))
        _close(HV, want.reshape(n, n), 1e-9, 1e-10)
        _close(g, ad.grad(prog, argnums=h)(*new).reshape(-1), 1e-9, 1e-10)
        _close(value, prog(*new), 1e-12, 1e-13)


@settings(max_examples=40, **SETTINGS)
@given(programs(max_steps=4))
def test_random_program_jacobians_by_compiled_forward_lanes(prog):
    """Recording.jacobian(mode="forward") of a recorded gradient (a program with the adjoint
    sweep's own ops in it) against ad.hessian, and of the program itself against ad.grad."""
    args, h = prog.args(), prog.hess_arg
    moved = _moved(args, prog.seed % 967)
    new = [moved[i] if i == h else a for i, a in enumerate(args)]
    rec = ad.record(ad.grad(prog, argnums=h), *args, argnums=h)
    _close(rec.jacobian(*new, mode="forward"), ad.hessian(prog, argnums=h)(*new), 1e-9, 1e-10)
    rec = ad.record(prog, *args, argnums=h)
    _close(rec.jacobian(*new, mode="forward"), ad.grad(prog, argnums=h)(*new), 1e-9, 1e-10)
    p = rec.program()
    event(f"compiled lanes: {lanes_apply(p)}")
    if lanes_apply(p) and new[h].size <= LANES_MAX:
        values, J = value_and_jacfwd(p, [new[h]], rec.outs)
        _close(J.reshape(-1), ad.grad(prog, argnums=h)(*new).reshape(-1), 1e-9, 1e-10)


@settings(max_examples=20, **SETTINGS)
@given(programs(max_steps=4))
def test_random_program_jacobians_by_compiled_lanes_float32(prog):
    args, h = prog.args(np.float32), prog.hess_arg
    new = [a if i != h else _moved([a], prog.seed % 953, np.float32)[0] for i, a in enumerate(args)]
    rec = ad.record(prog, *args, argnums=h)
    got = rec.jacobian(*new, mode="forward")
    want = ad.jacfwd(prog, argnums=h)(*new)
    assert np.result_type(got) == np.result_type(want)
    _close(got, want, 2e-3, 2e-4)


@pytest.mark.parametrize("n", [5, 100, 300])
def test_recorded_rosenbrock_hessian_is_coloured_and_exact(n):
    x = np.linspace(-1.0, 2.0, n)
    rec = ad.record(rosen, x)
    y = x[::-1].copy()
    _close(rec.hessian(y), ad.hessian(rosen, sparsity=False)(y), 1e-13, 1e-13)
    plan = rec._plan[1]
    assert plan.seeds.shape == ((n, n) if n < 32 else (n, 3))  # tridiagonal: three colours


def test_float32_hessian_lanes_compute_in_float32():
    x = np.linspace(-1.0, 2.0, 50).astype(np.float32)
    rec = ad.record(rosen, x)
    H = rec.hessian(x)
    assert H.dtype == np.float32
    _close(H, ad.hessian(rosen)(x.astype(np.float64)), 1e-5, 1e-5)
    assert rec.program().image.dtype == np.float32


def test_a_dense_hessian_and_a_value_dependent_pattern_stay_dense():
    A = np.random.default_rng(0).standard_normal((40, 40))
    f = lambda x: np.sum(np.tanh(A @ x) ** 2)  # a dense Hessian
    x = np.linspace(-0.5, 0.5, 40)
    plan = HessianPlan.make(f, (x,), (0,), 40)
    assert plan.seeds.shape == (40, 40) and plan.decompress is None
    g = lambda x: rosen(x) if x[0] > 0 else rosen(x) + np.sum(x) ** 2  # a guard steers it
    assert HessianPlan.make(g, (x,), (0,), 40).decompress is None
    rec = ad.record(g, x)
    for z in (x, -x):  # the other branch records again, with a plan of its own
        _close(rec.hessian(z), ad.hessian(g)(z), 1e-12, 1e-12)


def test_long_loop_hessian_and_jacobian_by_compiled_lanes():
    n = 10_000
    p = np.array([0.5, 9.81, 0.1, 0.001])
    q = np.array([0.45, 9.5, 0.12, 0.0011])
    rec = ad.record(lambda p: pendulum(p, n), p)
    assert lanes_apply(rec.program())
    H = rec.hessian(q)
    _close(H, ad.hessian(lambda p: pendulum(p, n))(q), 1e-10, 1e-12)
    grec = ad.record(ad.grad(lambda p: pendulum(p, n)), p)
    _close(grec.jacobian(q, mode="forward"), H, 1e-10, 1e-12)


@pytest.mark.parametrize("mode", ad.transforms.nested.HESSIAN_MODES)
def test_jit_of_hessian_runs_the_recorded_lanes(mode):
    h = ad.jit(ad.hessian(rosen, mode=mode))
    for i, n in enumerate((40, 40, 40, 7)):
        x = np.linspace(-1.0, 2.0, n) + 0.1 * i
        H = h(x)
        _close(H, ad.hessian(rosen, mode=mode)(x), 1e-13, 1e-13)
        assert type(H) is np.ndarray and H.shape == (n, n)
    assert h.records == 2  # one per signature


def test_jit_of_hessian_and_jacfwd_follow_guards_and_fall_back_for_the_rest():
    f = lambda x: np.sum(np.sin(x) * x) if x[0] > 0 else np.sum(x**3)
    h = ad.jit(ad.hessian(f))
    for x in (np.array([1.0, 2.0]), np.array([-1.0, 2.0]), np.array([0.5, -2.0])):
        _close(h(x), ad.hessian(f)(x), 1e-13, 1e-13)
    assert h.records == 3
    two = ad.jit(ad.hessian(lambda x, y: np.sum(x**2 * y), argnums=1))  # not routed: two arguments
    assert two(np.ones(2), np.array([1.0, 3.0])).shape == (2, 2)
    A = np.arange(6.0).reshape(3, 2)
    j = ad.jit(ad.jacfwd(lambda x: np.tanh(A @ x) * x[0]))
    for x in (np.array([0.3, -0.2]), np.array([0.1, 0.7])):
        _close(j(x), ad.jacfwd(lambda x: np.tanh(A @ x) * x[0])(x), 1e-14, 1e-14)
    assert j.records == 1


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("m", [5, 16, 300])
def test_forward_lanes_of_vectorised_rules_by_blocks(m, dtype):
    """jvp_run runs a rule that calls a vecmath function by blocks of elements from
    LANE_BLOCK_MIN elements on (300: one full block and a part): Jacobians against the plain
    jacfwd and central differences, zero tangents against infinite partials (log at 0) kept
    strong zeros, results fresh per call and the argument unwritten."""
    rng = np.random.default_rng(m)
    A = rng.standard_normal((m, 8)).astype(dtype) / 3

    def f(x):
        y = A @ x
        z = np.tanh(y) * np.exp(-y) + np.sin(y) * np.cos(y) + np.log1p(y * y) + np.expm1(0.5 * y)
        return z + np.log(np.abs(y) + (x[0] - x[0]) * y) * x[1]

    x = (rng.standard_normal(8) * 0.7).astype(dtype)
    tol = (1e-12, 1e-12) if dtype == np.float64 else (2e-4, 2e-4)
    want = ad.jacfwd(f)(x)
    rec = ad.record(f, x)
    assert lanes_apply(rec.program())
    got = rec.jacobian(x, mode="forward")
    assert got.dtype == dtype
    _close(got, want, *tol)
    if dtype == np.float64:
        h = 1e-6
        fd = np.stack([(f(x + h * e) - f(x - h * e)) / (2 * h) for e in np.eye(8)], axis=-1)
        _close(got, fd, 1e-5, 1e-6)
    j = ad.jit(ad.jacfwd(f))
    kept = x.copy()
    first, second = j(x), j(x)
    third = j(x + 0.25)
    assert first is not second and not np.shares_memory(first, second)
    _close(first, want, *tol)
    _close(second, want, *tol)
    _close(third, ad.jacfwd(f)(x + 0.25), *tol)
    assert np.array_equal(x, kept)
    with np.errstate(divide="ignore"):  # log(0): value -inf, partial inf, tangent 0 off the diagonal
        zero = ad.record(lambda x: np.log(x * np.arange(m, dtype=dtype)), np.ones(m, dtype))
        J = zero.jacobian(np.ones(m, dtype), mode="forward")
        want = ad.jacfwd(lambda x: np.log(x * np.arange(m, dtype=dtype)))(np.ones(m, dtype))
    assert np.array_equal(np.isnan(J), np.isnan(want)) and np.count_nonzero(J[1:, 0]) == 0
    np.testing.assert_allclose(J, want, rtol=tol[0], atol=tol[1])

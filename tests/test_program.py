"""Recordings lowered to an operation sequence and run by the VM (dualad.transforms.program).

Differential: random programs over every rule and structural op (tests/random_programs.py),
recorded once and run by the VM at new inputs, against eager NumPy evaluation of the same
program and against the Python replay; recorded transforms (grad, hessian, hvp, jacobian in
both modes) against the plain transforms.  Also: guards that change, host steps between
compiled segments, float32, long loops.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import pendulum
from hypothesis import HealthCheck, given, settings
from random_programs import FAMILIES, programs

import dualad as ad
from dualad.rules import RULES
from dualad.transforms import program as P
from dualad.transforms.fusion import FusedRun
from dualad.transforms.numpy_steps import ProductStep

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                      HealthCheck.filter_too_much])


def _moved(args, seed, dtype=np.float64):
    """Nearby inputs: the recording must be replayed (or recorded again) there."""
    rng = np.random.default_rng(seed)
    return [(a + 0.01 * rng.standard_normal(a.shape)).astype(dtype) for a in args]


def _close(got, want, rtol, atol):
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape
    scale = max(1.0, float(np.max(np.abs(want)))) if want.size else 1.0
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol * scale)


def _tree_close(got, want, rtol, atol):
    if isinstance(want, (tuple, list)):
        assert len(got) == len(want)
        for g, w in zip(got, want):
            _tree_close(g, w, rtol, atol)
    else:
        _close(got, want, rtol, atol)


def _python_replay(rec, args):
    (tape, values), _ = rec._replay(args)
    return [values[v] if kind == "n" else v for kind, v in rec.outs]


def check_value(prog, dtype, rtol, atol):
    args = prog.args(dtype)
    rec = ad.record(prog, *args)
    new = _moved(args, prog.seed % 997, dtype)
    got = rec(*new)
    want = prog(*new)
    assert np.result_type(got) == np.result_type(want), f"dtype {np.result_type(got)}, expected {np.result_type(want)}\n{prog!r}"
    _close(got, want, rtol, atol)
    _close(got, _python_replay(rec, new)[0], rtol, atol)
    return rec


@settings(max_examples=80, **SETTINGS)
@given(programs())
def test_random_program_values_float64(prog):
    rec = check_value(prog, np.float64, 1e-12, 1e-13)
    assert rec.program() is not None


@settings(max_examples=40, **SETTINGS)
@given(programs())
def test_random_program_values_float32(prog):
    check_value(prog, np.float32, 1e-4, 1e-5)


@pytest.mark.parametrize("family", sorted(set(FAMILIES) - set(RULES)))
def test_each_structural_family(family):
    @settings(max_examples=6, **SETTINGS)
    @given(programs(force=family))
    def run(prog):
        check_value(prog, np.float64, 1e-12, 1e-13)

    run()


def _transforms(prog):
    nums, h = prog.argnums, prog.hess_arg

    def hvp_of(*args):
        v = np.ones_like(args[h])
        return ad.hvp(lambda x: prog(*args[:h], x, *args[h + 1:]), args[h], v)

    return {
        "grad": ad.grad(prog, argnums=nums),
        "hessian": ad.hessian(prog, argnums=h),
        "hvp": hvp_of,
        "jacobian forward": ad.jacobian(ad.grad(prog, argnums=nums), argnums=h, mode="forward"),
        "jacobian reverse": ad.jacobian(ad.grad(prog, argnums=nums), argnums=h, mode="reverse"),
    }


@settings(max_examples=25, **SETTINGS)
@given(programs(max_steps=4))
def test_recorded_transforms_of_random_programs(prog):
    args = prog.args()
    new = _moved(args, prog.seed % 991)
    for name, t in _transforms(prog).items():
        rec = ad.record(t, *args)
        _tree_close(rec(*new), t(*new), 1e-9, 1e-10)


@settings(max_examples=80, **SETTINGS)
@given(programs())
def test_random_program_gradients_by_the_adjoint_sweep(prog):
    """Recording.value_and_grad: the program's forward run and its adjoint sweep in the VM (host
    steps pulled by their ops), against the plain transform."""
    args, nums = prog.args(), prog.argnums
    idx = (nums,) if isinstance(nums, int) else nums
    rec = ad.record(prog, *args, argnums=nums)
    moved = _moved(args, prog.seed % 983)
    new = [moved[i] if i in idx else a for i, a in enumerate(args)]
    v, g = rec.value_and_grad(*new)
    v0, g0 = ad.value_and_grad(prog, argnums=idx)(*new)
    _close(v, v0, 1e-12, 1e-13)
    _tree_close((g,) if len(idx) == 1 else g, g0, 1e-9, 1e-10)
    if not any(np.dtype(d).kind == "c" for d in rec.tape.dtypes.values()):
        assert rec.program().differentiable


@settings(max_examples=40, **SETTINGS)
@given(programs(max_steps=4))
def test_random_program_hessians_by_sweeps_of_the_recorded_gradient(prog):
    """Recording.jacobian(mode="reverse") of a recorded gradient: one compiled adjoint sweep per
    row of the Hessian (reverse over the recorded reverse sweep), against ad.hessian."""
    args, h = prog.args(), prog.hess_arg
    new = _moved(args, prog.seed % 977)
    rec = ad.record(ad.grad(prog, argnums=h), *args, argnums=h)
    args_h = [new[i] if i == h else a for i, a in enumerate(args)]
    _close(rec.jacobian(*args_h), ad.hessian(prog, argnums=h)(*args_h), 1e-9, 1e-10)


def test_jacobian_rows_beyond_the_sweep_limit_take_the_lane_engine():
    from dualad.transforms.program import SWEEP_ROWS_MAX

    def f(x):
        return np.sin(x) * x[0]

    for n in (3, SWEEP_ROWS_MAX + 5):
        x = np.linspace(0.1, 1.0, n)
        rec = ad.record(f, x)
        np.testing.assert_allclose(rec.jacobian(x * 2.0), ad.jacrev(f)(x * 2.0), rtol=1e-14)


def test_guard_change_records_again_and_never_replays_a_stale_value():
    def f(x):
        if x[0] > 0:
            return np.sum(np.sin(x) ** 2)
        return np.sum(np.cos(x) * x)

    loss = ad.record(f, np.array([1.0, 2.0]))
    x = np.array([-0.5, 1.0])
    np.testing.assert_allclose(loss.grad(x), ad.grad(f)(x), rtol=1e-14)  # adjoint sweep, recorded anew
    assert loss.records == 2
    rec = ad.record(ad.grad(f), np.array([1.0, 2.0]))
    assert rec.program() is not None
    x = np.array([0.5, -1.0])
    np.testing.assert_allclose(rec(x), ad.grad(f)(x), rtol=1e-14)
    assert rec.records == 1
    x = np.array([-0.5, 1.0])
    np.testing.assert_allclose(rec(x), ad.grad(f)(x), rtol=1e-14)
    assert rec.records == 2
    assert rec.program() is not None and rec.program() is rec.program()


def test_loop_guards_on_scalars():
    def steps(a):
        n = 0
        while a < 10.0:
            a = a * 1.5 + 0.1
            n += 1
        return a

    rec = ad.record(steps, 1.0)
    assert float(rec(1.1)) == pytest.approx(steps(1.1), rel=1e-15)
    assert float(rec(5.0)) == pytest.approx(steps(5.0), rel=1e-15)
    assert rec.records == 2


def test_host_step_between_compiled_segments():
    a = np.array([[3.0, 1.0, 0.0], [1.0, 4.0, 1.0], [0.0, 1.0, 5.0]])

    def f(x):
        y = np.exp(np.sin(x))  # VM
        z = np.linalg.solve(a * (1.0 + x[0] ** 2), y)  # a host step
        return np.sum(np.tanh(z) * x) + np.linalg.det(np.outer(z, x) + np.eye(3))  # VM, host, VM

    x0 = np.array([0.1, 0.2, 0.3])
    rec = ad.record(f, x0)
    prog = rec.program()
    assert sum(host is not None for _, _, host in prog.steps) >= 2
    assert any(stop > start for start, stop, _ in prog.steps)
    for x in (x0, np.array([0.5, -1.0, 2.0])):
        np.testing.assert_allclose(rec(x), f(x), rtol=1e-13)
    x = np.array([0.5, -1.0, 2.0])
    g = ad.record(ad.grad(f), x0)
    np.testing.assert_allclose(g(x), ad.grad(f)(x), rtol=1e-12)
    assert rec.program().differentiable  # the adjoint sweep pulls the host steps by their ops
    v, gv = rec.value_and_grad(x)
    np.testing.assert_allclose(v, f(x), rtol=1e-13)
    np.testing.assert_allclose(gv, ad.grad(f)(x), rtol=1e-12)


def test_structural_ops_run_in_compiled_code():
    """Indexing, broadcasting, reductions along axes, setitem, concatenate, where on a fixed
    mask, matmul: no host step.  (A mask computed from the inputs, ``np.where(y > 0.2, ...)``,
    is computed again at each replay by a NumPy step: tests/test_jit.py.)"""
    w = np.linspace(-1.0, 1.0, 12).reshape(3, 4)
    fixed = np.array([[True, False, True, True, False, True]] * 3)

    def f(x):
        y = x[:, None] * w + np.sum(w, axis=0)  # broadcast, reduce along an axis
        y = np.concatenate([y, y[::-1, 1:3] ** 2], axis=1)
        y = np.where(fixed, y, -y) @ np.ones((6, 2))  # where, matmul
        z = np.zeros(5) * x[0]
        z[1:4] = np.tanh(x)  # setitem
        return np.sum(y.T @ y) + np.mean(z) + np.sum(np.take(x, [2, 0, 0]) * np.flip(x))

    x0 = np.array([0.3, -0.7, 1.1])
    rec = ad.record(f, x0)
    prog = rec.program()
    assert all(host is None for _, _, host in prog.steps), [h[0].op.name for _, _, h in prog.steps if h]
    x = np.array([0.31, -0.69, 1.12])
    np.testing.assert_allclose(rec(x), f(x), rtol=1e-13)
    gr = ad.record(ad.grad(f), x0)
    np.testing.assert_allclose(gr(x), ad.grad(f)(x), rtol=1e-12)
    he = ad.record(ad.hessian(f), x0)
    np.testing.assert_allclose(he(x), ad.hessian(f)(x), rtol=1e-11, atol=1e-12)


def test_float32_program_computes_in_float32():
    def f(x):
        return np.sum(np.exp(-x * x) * 3.0) + x[0] / 7.0

    x0 = np.linspace(0.1, 1.0, 5, dtype=np.float32)
    rec = ad.record(f, x0)
    assert rec.program().image.dtype == np.float32
    x = x0 * np.float32(1.5)
    got, want = rec(x), f(x)
    assert np.result_type(got) == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-6)
    v, g = rec.value_and_grad(x)
    assert np.result_type(v) == np.float32 and g.dtype == np.float32
    np.testing.assert_allclose(g, ad.grad(f)(x.astype(np.float64)), rtol=1e-5)


def test_complex_values_are_held_on_the_host():
    def f(x):
        return np.sum(np.abs(np.fft.fft(np.sin(x))) ** 2 * x)

    rec = ad.record(f, np.ones(4))
    prog = rec.program()
    hosts = [h[0].op.name for _, _, h in prog.steps if h is not None]
    assert "fft" in hosts and "sin" not in hosts
    x = np.array([1.0, 2.0, 0.5, -1.0])
    np.testing.assert_allclose(rec(x), f(x), rtol=1e-13)
    np.testing.assert_allclose(ad.record(ad.grad(f), x)(x * 0.5), ad.grad(f)(x * 0.5), rtol=1e-12)


def test_mixed_precision_values_are_held_on_the_host():
    c = np.linspace(0.5, 1.5, 3)  # float64: promotes the float32 value

    def f(x):
        return np.sum(np.sin(x) * c) + np.sum(np.cos(x))

    x0 = np.ones(3, np.float32)
    rec = ad.record(f, x0)
    assert rec.program().image.dtype == np.float32
    x = np.array([0.1, 0.2, 0.3], np.float32)
    got, want = rec(x), f(x)
    assert np.result_type(got) == np.result_type(want)
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_large_arrays_products_and_threads():
    """Large elementwise entries and their sums run fused loops (dualad.transforms.fusion), large
    matrix products BLAS inside the VM; runs in several threads at once share nothing."""
    rng = np.random.default_rng(3)
    w = rng.standard_normal((50, 40))

    def f(x):
        h = np.tanh(x.reshape(200, 50) @ w)  # a 200x50x40 product: BLAS
        return np.sum(np.sin(h) ** 2) + np.sum(h[:, :3] * 2.0)

    x0 = rng.standard_normal(10_000)
    rec = ad.record(f, x0)
    steps = [h for _, _, h in rec.program().steps if h is not None]
    assert not any(type(h) is tuple for h in steps)  # no host step: no einsum, no ufunc
    assert any(isinstance(h, FusedRun) and ("tanh", ("a0",)) in h.spec.ops for h in steps)
    xs = [rng.standard_normal(10_000) for _ in range(8)]
    want = [f(x) for x in xs]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(rec, xs * 3))
    np.testing.assert_allclose(got, want * 3, rtol=1e-12)


def test_large_transposed_products_are_host_steps():
    """A large product the VM would have to gather transposed runs through NumPy's matmul,
    which reads the operands in place; a small one stays in the VM.  Both match the plain
    gradient."""
    rng = np.random.default_rng(4)
    X = rng.standard_normal((64, 48))

    def loss(w):
        return np.sum(np.tanh(X @ w) ** 2)

    for w0, host in ((rng.standard_normal((48, 40)), True), (rng.standard_normal((48, 2)), False)):
        rec = ad.record(ad.value_and_grad(loss), w0)  # the gradient's products recorded too
        steps = [h for _, _, h in rec.program().steps if h is not None]
        assert any(isinstance(h, ProductStep) for h in steps) is host  # Xᵀ @ ḡ: 48 × 64 × 40 multiply-adds
        w1 = w0 + 0.1
        value, grad = rec(w1)
        want_value, want_grad = ad.value_and_grad(loss)(w1)
        np.testing.assert_allclose(value, want_value, rtol=1e-12)
        np.testing.assert_allclose(grad, want_grad, rtol=1e-11, atol=1e-13)


def test_long_scalar_loop():
    n = 10_000
    p = np.array([0.5, 9.81, 0.1, 0.001])
    rec = ad.record(lambda p: pendulum(p, n), p)
    prog = rec.program()
    assert len(prog.steps) == 1 and len(prog.code) >= 6 * n
    q = np.array([0.4, 9.0, 0.2, 0.001])
    plain = pendulum([float(v) for v in q], n)
    assert float(rec(q)) == pytest.approx(plain, rel=1e-12)


def test_recorded_gradient_of_a_loop():
    p = np.array([0.5, 9.81, 0.1, 0.01])
    rec = ad.record(ad.grad(lambda p: pendulum(p, 300)), p)
    q = np.array([0.45, 9.5, 0.12, 0.011])
    np.testing.assert_allclose(rec(q), ad.grad(lambda p: pendulum(p, 300))(q), rtol=1e-12)


def test_a_recording_differentiated_from_outside_keeps_its_derivative():
    def f(x):
        return np.sum(np.sin(x) * x) + x[0] * x[1]

    rec = ad.record(f, np.ones(3))
    x = np.array([0.1, 0.2, 0.3])
    np.testing.assert_allclose(ad.grad(rec)(x), ad.grad(f)(x), rtol=1e-14)
    np.testing.assert_allclose(ad.jacfwd(rec)(x), ad.grad(f)(x), rtol=1e-14)
    np.testing.assert_allclose(ad.hessian(rec)(x), ad.hessian(f)(x), rtol=1e-13)
    np.testing.assert_allclose(rec(x), f(x), rtol=1e-14)


def test_entries_nothing_reads_are_not_lowered():
    """A recorded Hessian-vector product computes the gradient too; nothing reads it, so it is
    not lowered (no instruction, no slot), and the product is still right.  A value that only a
    guard reads stays: a changed sign records again."""
    def f(x):
        return np.sum(np.sin(x) * x**2)

    x, v = np.linspace(-1.0, 1.0, 7), np.linspace(0.5, 2.0, 7)
    rec = ad.record(lambda x, v: ad.hvp(f, x, v), x, v)
    live = P.live_entries(rec.tape, rec.outs)
    assert len(live) < len(rec.tape.entries)
    dead = {e.out_node for e in rec.tape.entries} - {e.out_node for e in live}
    prog = rec.program()
    assert all(prog.slots[n] is None for n in dead)
    x2 = x + 0.3
    np.testing.assert_allclose(rec(x2, v), ad.hvp(f, x2, v), rtol=1e-13, atol=1e-14)

    def g(x):
        s = np.sum(np.sin(x))  # read by the branch only
        return x * 2.0 if s > 0 else x * 3.0

    jg = ad.jit(g)
    np.testing.assert_allclose(jg(x + 0.5), g(x + 0.5))
    np.testing.assert_allclose(jg(x - 0.5), g(x - 0.5))
    assert jg.records == 2

"""Fused runs inside programs (dualad.transforms.fusion, dualad.kernels.fused).

Differential: random programs (tests/random_programs.py) lowered with fusion from one element
on, so that every run of elementwise entries becomes a generated loop, against eager NumPy and
the plain transforms: values (float64, float32), recorded gradients and Hessian-vector
products, and gradients through the fused runs' adjoint sweeps.  Then programs on large arrays
as they are lowered by default: W6's Hessian-vector product and W2's value and gradient under
``jit`` against the plain transforms, a fused value read after its run, in-place updates,
broadcasting, float32, block copies, guards on fused values, and loops shared by structure.
"""

from __future__ import annotations

import os
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from random_programs import programs

import dualad as ad
from dualad.kernels.fused import FusedSpec, fused_source, vectorises
from dualad.rules import RULES
from dualad.transforms import program as P
from dualad.transforms.fusion import BlockCopy, FusedRun

# Each program's runs compile loops of their own (about a second each with an empty kernel
# cache), so few examples, the same ones at every run (derandomized: the loops are then found in
# the cache); HYPOTHESIS_PROFILE=long draws many more, at random.
LONG = os.environ.get("HYPOTHESIS_PROFILE", "ci") == "long"
SETTINGS = dict(deadline=None, suppress_health_check=list(HealthCheck), derandomize=not LONG)


def examples(ci: int) -> int:
    return 50 * ci if LONG else ci
RNG = np.random.default_rng(7)


@pytest.fixture
def fuse_all(monkeypatch):
    """Lower every elementwise entry as part of a fused run (or NumPy's ufunc, if alone)."""
    monkeypatch.setattr(P, "HOST_MIN", 1)


def _moved(args, seed, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return [(a + 0.01 * rng.standard_normal(a.shape)).astype(dtype) for a in args]


def _close(got, want, rtol, atol):
    if isinstance(want, (tuple, list)):
        assert len(got) == len(want)
        for g, w in zip(got, want):
            _close(g, w, rtol, atol)
        return
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape
    scale = max(1.0, float(np.max(np.abs(want)))) if want.size else 1.0
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol * scale)


def _fused(rec) -> list:
    return [h for _, _, h in rec.program().steps if isinstance(h, FusedRun)]


# -- random programs, fused from one element on ----------------------------------------------------


@settings(max_examples=examples(8), **SETTINGS)
@given(prog=programs(), dtype=st.sampled_from([np.float64, np.float32]))
def test_random_program_values(fuse_all, prog, dtype):
    rtol, atol = (1e-12, 1e-13) if dtype == np.float64 else (1e-4, 1e-5)
    args = prog.args(dtype)
    rec = ad.record(prog, *args)
    new = _moved(args, prog.seed % 997, dtype)
    got, want = rec(*new), prog(*new)
    assert np.result_type(got) == np.result_type(want)
    _close(got, want, rtol, atol)


@settings(max_examples=examples(4), **SETTINGS)
@given(prog=programs(max_steps=4))
def test_random_recorded_gradients_and_hvps(fuse_all, prog):
    args, nums, h = prog.args(), prog.argnums, prog.hess_arg
    new = _moved(args, prog.seed % 991)

    def hvp_of(*a):
        return ad.hvp(lambda x: prog(*a[:h], x, *a[h + 1:]), a[h], np.ones_like(a[h]))

    for t in (ad.grad(prog, argnums=nums), hvp_of):
        with np.errstate(all="ignore"):
            _close(ad.record(t, *args)(*new), t(*new), 1e-9, 1e-10)


@settings(max_examples=examples(6), **SETTINGS)
@given(prog=programs())
def test_random_gradients_by_the_fused_adjoint_sweep(fuse_all, prog):
    """Recording.value_and_grad: the program's forward run and adjoint sweep, fused runs swept by
    their generated adjoint loops, against the plain transform."""
    args, nums = prog.args(), prog.argnums
    idx = (nums,) if isinstance(nums, int) else nums
    rec = ad.record(prog, *args, argnums=nums)
    moved = _moved(args, prog.seed % 983)
    new = [moved[i] if i in idx else a for i, a in enumerate(args)]
    v, g = rec.value_and_grad(*new)
    v0, g0 = ad.value_and_grad(prog, argnums=idx)(*new)
    _close(v, v0, 1e-12, 1e-13)
    _close((g,) if len(idx) == 1 else g, g0, 1e-9, 1e-10)


# -- large arrays, lowered as by default -------------------------------------------------------------


def rosen(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def w2(x):
    return np.sum(np.sin(x) * np.exp(-(x**2)) + np.log1p(x**2))


def test_hvp_of_rosenbrock_runs_fused_without_copies():
    """W6: the recorded Hessian-vector product is one fused loop; the embeddings of the slices'
    adjoints (three here: ``x[:-1]`` is taken twice) and their sum cost nothing (the loop writes
    one and adds the others into the sum's array)."""
    n = 6000
    f = ad.jit(lambda x, v: ad.hvp(rosen, x, v))
    x, v = RNG.standard_normal(n), RNG.standard_normal(n)
    f(x, v)
    for _ in range(2):
        x, v = RNG.standard_normal(n), RNG.standard_normal(n)
        np.testing.assert_allclose(f(x, v), ad.hvp(rosen, x, v), rtol=1e-12, atol=1e-12)
    rec = next(iter(f._cache.values())).rec
    steps = [h for _, _, h in rec.program().steps]
    assert all(isinstance(h, FusedRun) for h in steps) and len(steps) == 1, steps
    assert len(steps[0].spec.adds) == 2 and len(steps[0].slabs) == 1
    assert f.records == 1


def rosen_head(x):
    head = x[:-1]  # (one slice read twice: the adjoints of x[1:] and x[:-1], two embeddings, summed)
    return np.sum(100.0 * (x[1:] - head**2) ** 2 + (1.0 - head) ** 2)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_summed_embeddings_are_added_in_the_fused_loop(dtype):
    """W6 as the benchmark writes it: the adjoints of x[1:] and x[:-1], embedded into zeros and
    summed, are stored by the fused loop into one new array per call (the one at the higher
    offset written, the other added), so the program is one loop; against the plain hvp and
    central differences of the plain gradient, fresh results, arguments unwritten."""
    n = 5000
    rtol = 1e-12 if dtype == np.float64 else 2e-5
    f = ad.jit(lambda x, v: ad.hvp(rosen_head, x, v))
    x, v = RNG.standard_normal(n).astype(dtype), RNG.standard_normal(n).astype(dtype)
    f(x, v)
    kept = (x.copy(), v.copy())
    first = f(x, v)
    rec = next(iter(f._cache.values())).rec
    (run,) = [h for _, _, h in rec.program().steps]
    assert isinstance(run, FusedRun) and len(run.spec.adds) == 1 and len(run.slabs) == 1
    second = f(x, v)
    assert first is not second and not np.shares_memory(first, second) and first.dtype == dtype
    want = ad.hvp(rosen_head, x, v)
    np.testing.assert_allclose(first, want, rtol=rtol, atol=rtol * np.max(np.abs(want)))
    np.testing.assert_array_equal(first, second)
    assert np.array_equal(x, kept[0]) and np.array_equal(v, kept[1])
    if dtype == np.float64:
        g, h = ad.grad(rosen_head), 1e-6
        fd = (g(x + h * v) - g(x - h * v)) / (2 * h)
        np.testing.assert_allclose(first, fd, rtol=1e-5, atol=1e-5 * np.max(np.abs(fd)))
    x2 = RNG.standard_normal(n).astype(dtype)
    third = f(x2, v)
    np.testing.assert_allclose(third, ad.hvp(rosen_head, x2, v), rtol=rtol, atol=rtol * np.max(np.abs(want)))
    np.testing.assert_array_equal(first, second)  # an earlier result stays as it was


def test_summed_embeddings_read_later_and_swept_back():
    """The summed embeddings kept in the buffer (a later loop reads them; the add's other
    positions zeroed per run) and the adjoint sweep through the added store, against the plain
    transforms."""
    n = 5000
    w = RNG.standard_normal(n)

    def f(x):
        return np.sum(np.sin(ad.grad(rosen_head)(x)) * w)

    x = RNG.standard_normal(n)
    rec = ad.record(f, x)
    runs = _fused(rec)
    assert any(r.spec.adds for r in runs) and any(r.zeros for r in runs)
    for z in (x, RNG.standard_normal(n), x):
        np.testing.assert_allclose(rec(z), f(z), rtol=1e-11)
        value, (g,) = rec.program().value_and_grad([z], rec.outs[0][1])
        np.testing.assert_allclose(value, f(z), rtol=1e-11)
        np.testing.assert_allclose(g, ad.grad(f)(z), rtol=1e-9, atol=1e-9)


def stencil(x):
    """Second differences and shifted products: the gradient sums embeddings of slices'
    adjoints at offsets 0, 1 and 2."""
    return np.sum((x[2:] - 2.0 * x[1:-1] + x[:-2]) ** 2) + np.sum(np.sin(x[1:]) * x[:-1] ** 3)


@pytest.mark.parametrize("fn, summed", [(stencil, False), (rosen_head, True), (rosen, True)])
def test_summed_embeddings_under_jit_of_grad_and_hvp(fn, summed):
    """jit(grad) and jit(hvp) of stencil-like functions, whose gradients sum embeddings of the
    slices' adjoints, against the plain transforms, over calls with new arguments; where the
    sum's terms are not all values of one fused run (the stencil's), it runs as before."""
    n = 4500
    g, h = ad.jit(ad.grad(fn)), ad.jit(lambda x, v: ad.hvp(fn, x, v))
    v = RNG.standard_normal(n)
    for _ in range(3):
        x = RNG.standard_normal(n)
        want_g, want_h = ad.grad(fn)(x), ad.hvp(fn, x, v)
        np.testing.assert_allclose(g(x), want_g, rtol=1e-11, atol=1e-11 * np.max(np.abs(want_g)))
        np.testing.assert_allclose(h(x, v), want_h, rtol=1e-11, atol=1e-11 * np.max(np.abs(want_h)))
    runs = [s for _, _, s in next(iter(h._cache.values())).rec.program().steps if isinstance(s, FusedRun)]
    assert any(r.spec.adds for r in runs) == summed


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_value_and_grad_of_an_elementwise_chain(dtype):
    """W2 under jit: the function's value (a fused sum) and its gradient in one loop."""
    x = RNG.standard_normal(9000).astype(dtype)
    f = ad.jit(ad.value_and_grad(w2))
    f(x)
    x = RNG.standard_normal(9000).astype(dtype)
    (v, g), (v0, g0) = f(x), ad.value_and_grad(w2)(x)
    assert v.dtype == dtype and g.dtype == dtype
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(v, v0, rtol=tol)
    np.testing.assert_allclose(g, g0, rtol=tol, atol=tol)
    (run,) = _fused(next(iter(f._cache.values())).rec)
    assert len(run.spec.sums) == 1 and len(run.spec.stores) == 1  # the value; the gradient


def test_a_fused_value_read_later_is_stored():
    """A run's value read by a host step (sort) and by the output is materialised; the values
    only the run reads stay in registers."""

    def f(x):
        y = np.sin(x) * x + 1.0
        z = np.cos(y) ** 2
        return np.sort(y)[-3:].sum() + np.sum(z), y

    x = RNG.standard_normal(5000)
    rec = ad.record(f, x)
    x = RNG.standard_normal(5000)
    (s, y), (s0, y0) = rec(x), f(x)
    # the kernels' sin is within a few ulp of NumPy's; y = sin(x)·x + 1 cancels near 0
    np.testing.assert_allclose(y, y0, rtol=1e-15, atol=1e-14)
    np.testing.assert_allclose(s, s0, rtol=1e-12)
    (run, *_) = _fused(rec)
    assert len(run.spec.stores) == 1  # y; sin(x), sin(x)·x, cos(y) are not stored


def test_in_place_updates_and_broadcasting():
    """Item assignment and augmented operators between fused runs; operands broadcast from a
    row, a column and a scalar; against NumPy and the plain gradient."""
    row, col = RNG.standard_normal(80), RNG.standard_normal((100, 1))

    def f(x):
        y = x.reshape(100, 80) * row + col
        y[10:20] = 0.5
        y *= np.tanh(y) + 2.0
        y[:, 3] += y[:, 4]
        return np.sum(y**2 - 3.0 * y)

    x = RNG.standard_normal(8000)
    jf, jg = ad.jit(f), ad.jit(ad.grad(f))
    jf(x), jg(x)
    x = RNG.standard_normal(8000)
    np.testing.assert_allclose(jf(x), f(x), rtol=1e-12)
    np.testing.assert_allclose(jg(x), ad.grad(f)(x), rtol=1e-11, atol=1e-12)


def test_concatenation_is_a_block_copy_and_sweeps_back():
    def f(x):
        z = np.concatenate([x[2000:], x[:2000]]) * np.arange(6000.0)
        return np.sum(np.sin(z) * z)

    x = RNG.standard_normal(6000)
    rec = ad.record(f, x)
    assert any(isinstance(h, BlockCopy) for _, _, h in rec.program().steps)
    x = RNG.standard_normal(6000)
    np.testing.assert_allclose(rec(x), f(x), rtol=1e-12)
    prog = rec.program()
    value, (g,) = prog.value_and_grad([x], rec.outs[0][1])  # the adjoint sweep, block copy included
    np.testing.assert_allclose(value, f(x), rtol=1e-12)
    np.testing.assert_allclose(g, ad.grad(f)(x), rtol=1e-12, atol=1e-12)


def test_fused_adjoint_sweep_on_large_arrays():
    """Program.value_and_grad through fused runs on large arrays, against the plain gradient."""
    x = RNG.standard_normal(7000)
    rec = ad.record(w2, x)
    value, (g,) = rec.program().value_and_grad([x], rec.outs[0][1])
    v0, g0 = ad.value_and_grad(w2)(x)
    np.testing.assert_allclose(value, v0, rtol=1e-12)
    np.testing.assert_allclose(g, g0, rtol=1e-12, atol=1e-14)


def test_a_guard_on_a_fused_sum_records_again():
    def f(x):
        s = np.sum(np.sin(x) * x)
        return np.sum(x**2) if s > 2000.0 else np.sum(x**3)

    x = np.full(5000, 1.0)
    jf = ad.jit(f)
    assert jf(x) == pytest.approx(f(x))
    y = np.full(5000, 0.1)
    assert jf(y) == pytest.approx(f(y))
    assert jf.records == 2


def test_loops_are_shared_by_structure():
    """Two programs with the same run (other sizes, other constants' values) share one loop."""
    a = ad.record(lambda x: np.sum(np.exp(x) * 2.0 - x), np.zeros(5000))
    b = ad.record(lambda x: np.sum(np.exp(x) * 3.0 - x), np.zeros(6000))
    (ra,), (rb,) = _fused(a), _fused(b)
    assert ra.spec == rb.spec and ra._kernel is rb._kernel
    x = RNG.standard_normal(6000)
    np.testing.assert_allclose(b(x), np.sum(np.exp(x) * 3.0 - x), rtol=1e-12)


# -- vectorised loops ----------------------------------------------------------------------------------


def _compiled_uncached(spec: FusedSpec) -> dict:
    """The generated module of ``spec`` compiled apart, without Numba's disk cache (code loaded
    from it cannot be inspected)."""
    namespace: dict = {}
    exec(compile(fused_source(spec).replace("cache=True", "cache=False"), "<fused>", "exec"), namespace)
    return namespace


def test_fused_loops_vectorise():
    """A run with a full sum, a stored value and a scalar input (whose adjoint is a sum over the
    elements too) compiles to vector code in both directions; a run with a rule that calls the C
    library keeps the C library's functions (``loop_fn``)."""
    spec = FusedSpec((("sin", ("a0",)), ("multiply", ("v0", "s0")), ("exp", ("v1",)), ("log1p", ("v2",))),
                     1, 1, ("v1",), ("v3",))
    assert "kernel_fn" in fused_source(spec) and "loop_fn" not in fused_source(spec)
    mod = _compiled_uncached(spec)
    buf, adj = np.zeros(20000), np.zeros(20000)
    offs = np.array([1, 0, 8000, 19999])
    mod["run"](buf, offs, 5000)
    mod["adjoint"](buf, adj, offs, 5000)
    for fn in (mod["run"], mod["adjoint"]):
        ir = fn.inspect_llvm(fn.signatures[0])
        assert re.search(r"<\d+ x double>", ir), "the element loop did not vectorise"
    slow = FusedSpec((("arctan", ("a0",)), ("sin", ("v0",))), 1, 0, (), ("v1",))
    assert not vectorises(RULES["arctan"]) and vectorises(RULES["sin"]) and vectorises(RULES["maximum"])
    assert "loop_fn" in fused_source(slow) and "kernel_fn" not in fused_source(slow)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n", [4096, 5000, 8 * 1024 + 1])
def test_vectorised_loops_against_numpy(dtype, n):
    """Values of a vectorised fused run (every vecmath function, a stored value, full sums over a
    last partial block) and its adjoint sweep against NumPy and the closed form, to a few ulp."""
    def f(x, c):
        y = np.sin(x) * np.exp(-x * x) + np.log1p(x * x) * c - np.tanh(x) * np.cos(x) + np.expm1(x * 0.5)
        return np.sum(y), y, np.sum(np.log(x * x + 1.0) * c)

    x = RNG.uniform(-4.0, 4.0, n).astype(dtype)
    c = dtype(0.75)
    rec = ad.record(f, x, c)
    (run,) = _fused(rec)
    assert run.spec.stores and len(run.spec.sums) == 2 and "kernel_fn" in fused_source(run.spec)
    x = RNG.uniform(-4.0, 4.0, n).astype(dtype)
    s, y, t = rec(x, c)
    x64 = x.astype(np.float64)
    y64 = np.sin(x64) * np.exp(-x64 * x64) + np.log1p(x64 * x64) * 0.75 - np.tanh(x64) * np.cos(x64) + np.expm1(x64 * 0.5)
    if dtype == np.float64:  # the same operations, each within a few ulp of NumPy's
        np.testing.assert_allclose(y, f(x, c)[1], rtol=1e-14, atol=1e-15)
        np.testing.assert_allclose([s, t], [np.sum(y64), np.sum(np.log(x64 * x64 + 1.0) * 0.75)], rtol=1e-14)
    else:  # every op rounded to float32
        assert y.dtype == np.float32 and np.asarray(s).dtype == np.float32
        np.testing.assert_allclose(y, y64, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(s, np.sum(y64), rtol=1e-5)

    def g(x, c):
        return np.sum(np.sin(x) * np.exp(-x * x) * c)

    rec = ad.record(g, x, c, argnums=(0, 1))
    value, (gx, gc) = rec.value_and_grad(x, c)  # the fused adjoint: gc is a sum over the elements
    e = np.exp(-x64 * x64)
    want_gx = 0.75 * (np.cos(x64) * e - 2.0 * x64 * np.sin(x64) * e)
    tol = 1e-13 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(gx, want_gx, rtol=tol, atol=tol)
    np.testing.assert_allclose(gc, np.sum(np.sin(x64) * e), rtol=tol)
    np.testing.assert_allclose(value, 0.75 * np.sum(np.sin(x64) * e), rtol=tol)

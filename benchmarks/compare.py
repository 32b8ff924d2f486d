"""dualad side by side with JAX, PyTorch and HIPS autograd on the workloads W1–W6, in one run.

Run from the repository root::

    python -m benchmarks.compare                 # every installed system
    python -m benchmarks.compare --budget 0.2    # shorter (less stable) medians
    python -m benchmarks.compare --json out.json --systems numpy dualad torch
    python -m benchmarks.compare --groups P W1   # only the pendulum and W1

Each system runs in its own interpreter (``--worker SYSTEM``), so no two of them share a process,
a thread pool or an allocator; systems that are not installed are skipped with a note.  Inside a
worker every cell is first *checked*: its result must match the hand-written NumPy reference of
:mod:`benchmarks.workloads` (values and derivatives, float64, ``rtol = 1e-8``) before it is timed.
A cell that fails the check is reported as ``WRONG`` and not timed.

The table has two lines per workload: the median time of one call per system (and variant), and
the ratio *best dualad variant in that row / column*, so ``0.5×`` means dualad takes half the
time of that column and ``4×`` means four times as long.

Columns
-------
numpy
    The function alone (W1 in plain Python with ``math``).
np hand
    Hand-written NumPy derivative (``numpy_value_and_grads``, the analytic Jacobian, Hessian, HVP).
dualad, dualad rec, dualad cmp, dualad jit
    The plain transforms (``value_and_grad``, ``jacfwd``/``jacrev``/``jacobian``, ``hessian``,
    ``hvp``); replay of a recording (``dualad.record``); a compiled recording (``.compile()``,
    scalar and elementwise programs only); ``dualad.jit`` of the plain transform (its first call
    records, the timed calls replay).
autograd
    HIPS autograd (``value_and_grad``, ``jacobian``; forward Jacobians are ``make_jvp`` per
    column; ``hessian`` is reverse-over-reverse; ``hessian_tensor_product``).
jax, jax jit
    JAX with ``jax_enable_x64``, op-by-op (eager) and under ``jax.jit``; outputs are waited for
    with ``block_until_ready``.
torch, torch.func
    PyTorch eager autograd (``backward``/``autograd.grad``, ``torch.autograd.functional`` with
    ``vectorize=True``, double backward for the HVP) and ``torch.func`` (``grad_and_value``,
    ``jacfwd``/``jacrev``, the four nestings of both for Hessians, ``jvp`` of ``grad`` for HVPs).

Rows ``W4 ... auto`` time ``dualad.transforms.jacobian.jacobian(mode="auto")``; the peers have no
mode choice, so their cells in those rows repeat their faster mode from the rows above.  The
over-forward Hessians at n = 1000 move n² lanes through n-element arrays (tens of seconds and
gigabytes per call in every system) and run only with ``--full``.

The machine is shared and noisy: compare ratios measured in one run, never absolute times.  On a
loaded machine, multi-threaded pools (OpenBLAS, OpenMP in PyTorch and in Numba's parallel kernels)
can be slowed many times over by other processes; ``--threads 1`` caps every system at one thread
and gives the steadiest ratios.
"""

from __future__ import annotations

import argparse
import datetime
import functools
import gc
import importlib.util
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .timing import one_cpu
from .workloads import (
    HESSIAN_ORDERS,
    MLP,
    PENDULUM_POINT,
    PENDULUM_STEPS,
    W1_POINT,
    W2_SIZE,
    W4_SHAPES,
    W5_SIZES,
    W6_SIZE,
    Rosenbrock,
    TanhSin,
    lecture,
    lecture_value_and_grad,
    pendulum,
    pendulum_value_and_grad,
    rosenbrock,
    tanh_sin,
    w2,
    w2_input,
    w2_value_and_grad,
)

#: Systems in table order, with the import name that tells whether each is installed.
SYSTEMS = {"numpy": "numpy", "dualad": "dualad", "autograd": "autograd", "jax": "jax", "torch": "torch"}

#: Table columns: (system, variant, heading).
COLUMNS = [
    ("numpy", "primal", "numpy"),
    ("numpy", "hand", "np hand"),
    ("dualad", "plain", "dualad"),
    ("dualad", "record", "dualad rec"),
    ("dualad", "compile", "dualad cmp"),
    ("dualad", "jit", "dualad jit"),
    ("autograd", "eager", "autograd"),
    ("jax", "eager", "jax"),
    ("jax", "jit", "jax jit"),
    ("torch", "eager", "torch"),
    ("torch", "func", "torch.func"),
]

_SHORT = {"forward-over-reverse": "fwd/rev", "reverse-over-reverse": "rev/rev", "forward-over-forward": "fwd/fwd", "reverse-over-forward": "rev/fwd"}
_ROOT = Path(__file__).resolve().parents[1]
_TAG = "@@cell "


@dataclass(frozen=True)
class Row:
    """One line of the table: a workload group (shared inputs) and the mode within it."""

    group: str
    mode: str
    title: str


def rows(full: bool = False) -> list[Row]:
    """The table's rows, in order; ``full`` adds the over-forward Hessians at n = 1000."""
    out = [
        Row("W1", "", "W1 value+grad, 2 scalars"),
        Row("W2", "", "W2 value+grad, n=1e6"),
        Row("W3", "", "W3 MLP grads, batch 128"),
    ]
    for shape, (n_in, n_out) in W4_SHAPES.items():
        for mode in ("forward", "reverse", "auto"):
            out.append(Row(f"W4 {shape}", mode, f"W4 {shape} {n_in}→{n_out}, {mode}"))
    for n in W5_SIZES:
        for order in HESSIAN_ORDERS:
            if n > 100 and order.endswith("forward") and not full:
                continue
            out.append(Row(f"W5 n={n}", order, f"W5 Hessian n={n}, {_SHORT[order]}"))
    out.append(Row("W6", "", "W6 HVP n=1e5, fwd/rev"))
    out.append(Row("P", "", f"P pendulum value+grad, {PENDULUM_STEPS} steps"))
    return out


# -- references -------------------------------------------------------------------------------------
@functools.cache
def _mlp() -> MLP:
    return MLP()


@functools.cache
def _w2x() -> np.ndarray:
    return w2_input(W2_SIZE)


@functools.cache
def _tanh_sin(shape: str) -> TanhSin:
    return TanhSin(shape)


@functools.cache
def _rosen(n: int) -> Rosenbrock:
    return Rosenbrock(n)


def reference(group: str, primal: bool) -> list[np.ndarray]:
    """The hand-written NumPy result of ``group``: the value alone, or everything a cell returns.

    Parameters
    ----------
    group : str
        Workload group (``"W1"``, ``"W4 tall"``, ``"W5 n=100"``, ...).
    primal : bool
        Whether the cell computes the function's value only.

    Returns
    -------
    list of ndarray
        Flattened in the order cells return their results.
    """
    if group == "W1":
        value, grads = lecture_value_and_grad(*W1_POINT)
        return flatten(value if primal else (value, grads))
    if group == "W2":
        x = _w2x()
        return flatten(w2(x)) if primal else flatten(w2_value_and_grad(x))
    if group == "W3":
        mlp = _mlp()
        value, grads = mlp.numpy_value_and_grads(*mlp.params)
        return flatten(value if primal else (value, grads))
    if group.startswith("W4"):
        w = _tanh_sin(group.split()[1])
        return flatten(w.f(w.x) if primal else w.jacobian(w.x))
    if group.startswith("W5"):
        x = _rosen(int(group.split("=")[1])).x
        return flatten(rosenbrock(x) if primal else Rosenbrock.hessian(x))
    if group == "W6":
        w = _rosen(W6_SIZE)
        return flatten(rosenbrock(w.x) if primal else Rosenbrock.hvp(w.x, w.v))
    if group == "P":
        value, grads = pendulum_value_and_grad(*PENDULUM_POINT)
        return flatten(value if primal else (value, grads))
    raise ValueError(group)


def flatten(out) -> list[np.ndarray]:
    """Nested tuples/lists of NumPy, JAX or PyTorch values as a flat list of float64 arrays."""
    if isinstance(out, (tuple, list)):
        return [leaf for item in out for leaf in flatten(item)]
    if hasattr(out, "detach"):  # a torch tensor
        out = out.detach().cpu().numpy()
    return [np.asarray(out, dtype=np.float64)]


def check(out, ref: list[np.ndarray], rtol: float = 1e-8) -> str | None:
    """``None`` if ``out`` matches ``ref``; otherwise what differs."""
    got = flatten(out)
    if len(got) != len(ref):
        return f"{len(got)} results, expected {len(ref)}"
    for i, (a, b) in enumerate(zip(got, ref)):
        if a.shape != b.shape:
            return f"result {i}: shape {a.shape}, expected {b.shape}"
        scale = float(np.max(np.abs(b))) if b.size else 0.0
        err = float(np.max(np.abs(a - b))) if b.size else 0.0
        if not np.isfinite(err) or err > rtol * max(scale, 1.0):
            return f"result {i}: max |error| {err:.3g} against max |reference| {scale:.3g}"
    return None


# -- timing -----------------------------------------------------------------------------------------
def median_time(fn: Callable[[], object], budget: float) -> tuple[float, int, int]:
    """Median seconds of one call of ``fn`` (called once by the caller already).

    Calls shorter than 5 ms are batched so that one sample lasts at least 5 ms; the number of
    samples fits ``budget`` seconds, between 3 and 25.  The garbage collector is off during a
    sample, as in :mod:`timeit`.  The length of one call, which sets the batch, is the shorter
    of two calls: a function that compiles at its second call (``dualad.jit`` records at the
    first and lowers at the second) would otherwise be timed one call per sample, each right
    after ``gc.collect()`` has emptied the CPU caches, while a peer whose second call is fast
    is timed in warm batches (W6 under ``dualad.jit``: 300 µs per call so against 106 µs).

    Returns
    -------
    tuple
        ``(median seconds per call, calls per sample, samples)``.
    """
    # DUALAD_BENCH_CLOCK=cpu: process CPU time, for A/B runs on a loaded machine (time spent
    # descheduled does not count; cache and memory contention still do)
    clock = time.process_time if os.environ.get("DUALAD_BENCH_CLOCK") == "cpu" else time.perf_counter
    once = math.inf
    for _ in range(2):
        start = clock()
        fn()
        once = min(once, clock() - start)
    once = max(once, 1e-7)
    number = max(1, int(0.005 / once))
    repeat = int(min(25, max(3, budget / (once * number))))
    samples = []
    gc_was = gc.isenabled()
    try:
        for _ in range(repeat):
            gc.collect()
            gc.disable()
            start = clock()
            for _ in range(number):
                fn()
            samples.append((clock() - start) / number)
            if gc_was:
                gc.enable()
    finally:
        if gc_was:
            gc.enable()
    return statistics.median(samples), number, repeat


# -- the cells of each system -----------------------------------------------------------------------
@dataclass
class Cell:
    """One system variant on one row: a zero-argument call and whether it is the primal alone."""

    group: str
    mode: str
    variant: str
    fn: Callable[[], object]
    primal: bool = False


def _numpy_cells(full: bool) -> Iterator[Cell]:
    yield Cell("W1", "", "primal", functools.partial(lecture, *W1_POINT, xp=math), primal=True)
    yield Cell("W1", "", "hand", functools.partial(lecture_value_and_grad, *W1_POINT))
    x = _w2x()
    yield Cell("W2", "", "primal", functools.partial(w2, x), primal=True)
    yield Cell("W2", "", "hand", functools.partial(w2_value_and_grad, x))
    mlp = _mlp()
    yield Cell("W3", "", "primal", functools.partial(mlp.numpy_loss, *mlp.params), primal=True)
    yield Cell("W3", "", "hand", functools.partial(mlp.numpy_value_and_grads, *mlp.params))
    for shape in W4_SHAPES:
        w = _tanh_sin(shape)
        yield Cell(f"W4 {shape}", "", "primal", functools.partial(w.f, w.x), primal=True)
        yield Cell(f"W4 {shape}", "", "hand", functools.partial(w.jacobian, w.x))
    for n in W5_SIZES:
        x = _rosen(n).x
        yield Cell(f"W5 n={n}", "", "primal", functools.partial(rosenbrock, x), primal=True)
        yield Cell(f"W5 n={n}", "", "hand", functools.partial(Rosenbrock.hessian, x))
    w = _rosen(W6_SIZE)
    yield Cell("W6", "", "primal", functools.partial(rosenbrock, w.x), primal=True)
    yield Cell("W6", "", "hand", functools.partial(Rosenbrock.hvp, w.x, w.v))
    yield Cell("P", "", "primal", functools.partial(pendulum, *PENDULUM_POINT, xp=math), primal=True)
    yield Cell("P", "", "hand", functools.partial(pendulum_value_and_grad, *PENDULUM_POINT))


def _hessian_orders(full: bool) -> Iterator[tuple[int, str]]:
    for n in W5_SIZES:
        for order in HESSIAN_ORDERS:
            if n > 100 and order.endswith("forward") and not full:
                continue
            yield n, order


def _dualad_cells(full: bool) -> Iterator[Cell]:
    import dualad as ad

    from .workloads import auto_jacobian

    x1, x2 = W1_POINT
    yield Cell("W1", "", "plain", functools.partial(ad.value_and_grad(lecture, argnums=(0, 1)), x1, x2))
    rec = ad.record(lecture, x1, x2)
    yield Cell("W1", "", "record", functools.partial(rec.value_and_grad, x1, x2))
    yield Cell("W1", "", "compile", functools.partial(rec.compile().value_and_grad, x1, x2))
    if hasattr(ad, "jit"):  # (not in older checkouts that benchmarks.ab may time)
        yield Cell("W1", "", "jit", functools.partial(ad.jit(ad.value_and_grad(lecture, argnums=(0, 1))), x1, x2))

    x = _w2x()
    yield Cell("W2", "", "plain", functools.partial(ad.value_and_grad(w2), x))
    rec = ad.record(w2, x)
    yield Cell("W2", "", "record", functools.partial(rec.value_and_grad, x))
    yield Cell("W2", "", "compile", functools.partial(rec.compile().value_and_grad, x))
    if hasattr(ad, "jit"):  # (not in older checkouts that benchmarks.ab may time)
        yield Cell("W2", "", "jit", functools.partial(ad.jit(ad.value_and_grad(w2)), x))

    mlp = _mlp()
    p = mlp.params
    yield Cell("W3", "", "plain", functools.partial(ad.value_and_grad(mlp.loss, argnums=(0, 1, 2, 3)), *p))
    yield Cell("W3", "", "record", functools.partial(ad.record(mlp.loss, *p).value_and_grad, *p))
    if hasattr(ad, "jit"):  # (not in older checkouts that benchmarks.ab may time)
        yield Cell("W3", "", "jit", functools.partial(ad.jit(ad.value_and_grad(mlp.loss, argnums=(0, 1, 2, 3))), *p))

    yield from _dualad_w4(ad, auto_jacobian())
    for n, order in _hessian_orders(full):
        x = _rosen(n).x
        chunk = 50 if n > 100 and order.endswith("forward") else None
        yield Cell(f"W5 n={n}", order, "plain", functools.partial(ad.hessian(rosenbrock, mode=order, chunk_size=chunk), x))
        if order == "forward-over-reverse":
            yield Cell(f"W5 n={n}", order, "record", functools.partial(ad.record(rosenbrock, x).hessian, x))
            if hasattr(ad, "jit"):  # (not in older checkouts that benchmarks.ab may time)
                yield Cell(f"W5 n={n}", order, "jit", functools.partial(ad.jit(ad.hessian(rosenbrock, mode=order)), x))

    w = _rosen(W6_SIZE)
    yield Cell("W6", "", "plain", functools.partial(ad.hvp, rosenbrock, w.x, w.v))
    if hasattr(ad, "jit"):  # (not in older checkouts that benchmarks.ab may time)
        yield Cell("W6", "", "jit", functools.partial(ad.jit(lambda x, v: ad.hvp(rosenbrock, x, v)), w.x, w.v))

    vg = ad.value_and_grad(pendulum, argnums=(0, 1, 2, 3))
    yield Cell("P", "", "plain", functools.partial(vg, *PENDULUM_POINT))
    if hasattr(ad, "jit"):  # (not in older checkouts that benchmarks.ab may time)
        yield Cell("P", "", "jit", functools.partial(ad.jit(vg), *PENDULUM_POINT))


def _dualad_w4(ad, jacobian) -> Iterator[Cell]:
    for shape in W4_SHAPES:
        w = _tanh_sin(shape)
        g = f"W4 {shape}"
        rec = ad.record(w.f, w.x)
        yield Cell(g, "forward", "plain", functools.partial(ad.jacfwd(w.f), w.x))
        yield Cell(g, "forward", "record", functools.partial(rec.jacobian, w.x, mode="forward"))
        if hasattr(ad, "jit"):  # (not in older checkouts that benchmarks.ab may time)
            yield Cell(g, "forward", "jit", functools.partial(ad.jit(ad.jacfwd(w.f)), w.x))
        yield Cell(g, "reverse", "plain", functools.partial(ad.jacrev(w.f), w.x))
        yield Cell(g, "reverse", "record", functools.partial(rec.jacobian, w.x, mode="reverse"))
        if hasattr(ad, "jit"):  # (not in older checkouts that benchmarks.ab may time)
            yield Cell(g, "reverse", "jit", functools.partial(ad.jit(ad.jacrev(w.f)), w.x))
        if jacobian is not None:
            yield Cell(g, "auto", "plain", functools.partial(jacobian(w.f, mode="auto"), w.x))


def _autograd_cells(full: bool) -> Iterator[Cell]:
    import autograd.numpy as anp
    from autograd import hessian, hessian_tensor_product, jacobian, make_jvp, value_and_grad
    from autograd.scipy.special import logsumexp

    yield Cell("W1", "", "eager", functools.partial(value_and_grad(functools.partial(lecture, xp=anp), (0, 1)), *W1_POINT))
    yield Cell("W2", "", "eager", functools.partial(value_and_grad(functools.partial(w2, xp=anp)), _w2x()))

    mlp = _mlp()

    def loss(W1, b1, W2, b2):
        z = anp.maximum(mlp.X @ W1 + b1, 0.0) @ W2 + b2
        return -anp.sum(mlp.Y * (z - logsumexp(z, axis=1, keepdims=True))) / mlp.X.shape[0]

    yield Cell("W3", "", "eager", functools.partial(value_and_grad(loss, (0, 1, 2, 3)), *mlp.params))

    for shape in W4_SHAPES:
        w = _tanh_sin(shape)
        f = functools.partial(tanh_sin, A=w.A, B=w.B, xp=anp)
        eye = np.eye(w.n_in)

        def jac_forward(x, f=f, eye=eye):
            push = make_jvp(f)(x)
            return np.stack([push(e)[1] for e in eye], axis=-1)

        yield Cell(f"W4 {shape}", "forward", "eager", functools.partial(jac_forward, w.x))
        yield Cell(f"W4 {shape}", "reverse", "eager", functools.partial(jacobian(f), w.x))

    f = functools.partial(rosenbrock, xp=anp)
    for n, order in _hessian_orders(full):
        if order == "reverse-over-reverse":
            yield Cell(f"W5 n={n}", order, "eager", functools.partial(hessian(f), _rosen(n).x))
    w = _rosen(W6_SIZE)
    yield Cell("W6", "", "eager", functools.partial(hessian_tensor_product(f), w.x, w.v))
    yield Cell("P", "", "eager", functools.partial(value_and_grad(_pendulum_of(anp), (0, 1, 2, 3)), *PENDULUM_POINT))


def _pendulum_of(xp):
    """The pendulum with ``xp``'s sin, its four parameters positional (the peers' argnums)."""

    def loss(theta, g_over_l, c, dt):
        return pendulum(theta, g_over_l, c, dt, xp=xp)

    return loss


def _jax_cells(full: bool) -> Iterator[Cell]:
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    def both(group, mode, fn, *args):
        args = tuple(jax.device_put(a) if isinstance(a, np.ndarray) else a for a in args)
        for variant, g in (("eager", fn), ("jit", jax.jit(fn))):
            yield Cell(group, mode, variant, lambda g=g: jax.block_until_ready(g(*args)))

    yield from both("W1", "", jax.value_and_grad(functools.partial(lecture, xp=jnp), argnums=(0, 1)), *W1_POINT)
    yield from both("W2", "", jax.value_and_grad(functools.partial(w2, xp=jnp)), _w2x())

    mlp = _mlp()
    X, Y = jnp.asarray(mlp.X), jnp.asarray(mlp.Y)

    def loss(W1, b1, W2, b2):
        logits = jax.nn.relu(X @ W1 + b1) @ W2 + b2
        return -jnp.sum(Y * jax.nn.log_softmax(logits, axis=1)) / X.shape[0]

    yield from both("W3", "", jax.value_and_grad(loss, argnums=(0, 1, 2, 3)), *mlp.params)

    for shape in W4_SHAPES:
        w = _tanh_sin(shape)
        f = functools.partial(tanh_sin, A=jnp.asarray(w.A), B=jnp.asarray(w.B), xp=jnp)
        yield from both(f"W4 {shape}", "forward", jax.jacfwd(f), w.x)
        yield from both(f"W4 {shape}", "reverse", jax.jacrev(f), w.x)

    f = functools.partial(rosenbrock, xp=jnp)
    jac = {"forward": jax.jacfwd, "reverse": jax.jacrev}
    for n, order in _hessian_orders(full):
        outer, inner = order.split("-over-")
        yield from both(f"W5 n={n}", order, jac[outer](jac[inner](f)), _rosen(n).x)

    def hvp(x, v):
        return jax.jvp(jax.grad(f), (x,), (v,))[1]

    w = _rosen(W6_SIZE)
    yield from both("W6", "", hvp, w.x, w.v)
    # jax.jit unrolls the loop while tracing: its first call (in the JSON) is the compile time
    yield from both("P", "", jax.value_and_grad(_pendulum_of(jnp), argnums=(0, 1, 2, 3)), *PENDULUM_POINT)


def _torch_cells(full: bool) -> Iterator[Cell]:
    import torch
    import torch.func as tf
    from torch.autograd.functional import hessian as t_hessian
    from torch.autograd.functional import jacobian as t_jacobian

    torch.set_default_dtype(torch.float64)

    def swap(fn):  # torch.func.grad_and_value returns (grads, value); the references are (value, grads)
        def call(*args):
            grads, value = fn(*args)
            return value, grads

        return call

    f1 = functools.partial(lecture, xp=torch)

    def w1_eager(x1, x2):
        a = torch.tensor(x1, requires_grad=True)
        b = torch.tensor(x2, requires_grad=True)
        y = f1(a, b)
        y.backward()
        return y.detach(), (a.grad, b.grad)

    yield Cell("W1", "", "eager", functools.partial(w1_eager, *W1_POINT))
    t1, t2 = (torch.tensor(v) for v in W1_POINT)
    yield Cell("W1", "", "func", functools.partial(swap(tf.grad_and_value(f1, argnums=(0, 1))), t1, t2))

    f2 = functools.partial(w2, xp=torch)
    x = torch.from_numpy(_w2x())

    def w2_eager(x):
        x = x.detach().requires_grad_(True)
        y = f2(x)
        (g,) = torch.autograd.grad(y, x)
        return y.detach(), g

    yield Cell("W2", "", "eager", functools.partial(w2_eager, x))
    yield Cell("W2", "", "func", functools.partial(swap(tf.grad_and_value(f2)), x))

    mlp = _mlp()
    X, Y = torch.from_numpy(mlp.X), torch.from_numpy(mlp.Y)
    params = tuple(torch.from_numpy(p) for p in mlp.params)

    def loss(W1, b1, W2, b2):
        logits = torch.relu(X @ W1 + b1) @ W2 + b2
        return -torch.sum(Y * torch.log_softmax(logits, dim=1)) / X.shape[0]

    def w3_eager(params):
        leaves = [p.detach().requires_grad_(True) for p in params]
        y = loss(*leaves)
        return y.detach(), torch.autograd.grad(y, leaves)

    yield Cell("W3", "", "eager", functools.partial(w3_eager, params))
    yield Cell("W3", "", "func", functools.partial(swap(tf.grad_and_value(loss, argnums=(0, 1, 2, 3))), *params))

    for shape in W4_SHAPES:
        w = _tanh_sin(shape)
        f = functools.partial(tanh_sin, A=torch.from_numpy(w.A), B=torch.from_numpy(w.B), xp=torch)
        x = torch.from_numpy(w.x)
        g = f"W4 {shape}"
        yield Cell(g, "forward", "eager", functools.partial(t_jacobian, f, x, vectorize=True, strategy="forward-mode"))
        yield Cell(g, "reverse", "eager", functools.partial(t_jacobian, f, x, vectorize=True))
        yield Cell(g, "forward", "func", functools.partial(tf.jacfwd(f), x))
        yield Cell(g, "reverse", "func", functools.partial(tf.jacrev(f), x))

    f = functools.partial(rosenbrock, xp=torch)
    jac = {"forward": tf.jacfwd, "reverse": tf.jacrev}
    for n, order in _hessian_orders(full):
        x = torch.from_numpy(_rosen(n).x)
        g = f"W5 n={n}"
        if order == "forward-over-reverse":
            yield Cell(g, order, "eager", functools.partial(t_hessian, f, x, vectorize=True, outer_jacobian_strategy="forward-mode"))
        elif order == "reverse-over-reverse":
            yield Cell(g, order, "eager", functools.partial(t_hessian, f, x, vectorize=True))
        outer, inner = order.split("-over-")
        yield Cell(g, order, "func", functools.partial(jac[outer](jac[inner](f)), x))

    w = _rosen(W6_SIZE)
    x, v = torch.from_numpy(w.x), torch.from_numpy(w.v)

    def hvp_double_backward(x, v):
        x = x.detach().requires_grad_(True)
        (g,) = torch.autograd.grad(f(x), x, create_graph=True)
        (hv,) = torch.autograd.grad(g, x, grad_outputs=v)
        return hv

    yield Cell("W6", "", "eager", functools.partial(hvp_double_backward, x, v))
    yield Cell("W6", "", "func", lambda: tf.jvp(tf.grad(f), (x,), (v,))[1])

    def pendulum_eager(*params):
        ps = [torch.tensor(p, requires_grad=True) for p in params]
        y = _pendulum_of(torch)(*ps)
        y.backward()
        return y.detach(), tuple(p.grad for p in ps)

    yield Cell("P", "", "eager", functools.partial(pendulum_eager, *PENDULUM_POINT))


def _versions(system: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    extra = {"dualad": "numba", "jax": "jaxlib"}.get(system)
    try:
        text = version(system)
        return text + (f" ({extra} {version(extra)})" if extra else "")
    except PackageNotFoundError:
        return "?"


_CELLS = {"numpy": _numpy_cells, "dualad": _dualad_cells, "autograd": _autograd_cells, "jax": _jax_cells, "torch": _torch_cells}


def worker(system: str, budget: float, full: bool, groups: list[str] | None = None) -> None:
    """Check and time every cell of ``system`` (of the ``groups`` given, e.g. ``["P", "W1"]``);
    one tagged JSON line per cell on stdout."""

    def emit(**record):
        print(_TAG + json.dumps(record), flush=True)

    emit(kind="version", system=system, version=_versions(system))
    for cell in _CELLS[system](full):
        if groups and cell.group.split()[0] not in groups:
            continue
        record = {"kind": "cell", "system": system, "group": cell.group, "mode": cell.mode, "variant": cell.variant}
        try:
            start = time.perf_counter()
            out = cell.fn()
            record["first_call"] = time.perf_counter() - start
            problem = check(out, reference(cell.group, cell.primal))
            if problem is not None:
                record["wrong"] = problem
            else:
                record["median"], record["number"], record["repeat"] = median_time(cell.fn, budget)
        except Exception as exc:  # noqa: BLE001  (reported in the table's notes, never hidden)
            record["error"] = f"{type(exc).__name__}: {exc}"
        label = f"{system} {cell.variant}".ljust(16)
        shown = _fmt_time(record["median"]) if "median" in record else ("WRONG" if "wrong" in record else "error")
        print(f"  {label} {cell.group} {cell.mode}".ljust(60) + shown, file=sys.stderr, flush=True)
        emit(**record)


# -- the table ----------------------------------------------------------------------------------------
def _fmt_time(seconds: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale or unit == "µs":
            value = seconds / scale
            digits = 0 if value >= 100 else 1 if value >= 10 else 2
            return f"{value:.{digits}f} {unit}"
    raise AssertionError


def _fmt_ratio(r: float) -> str:
    if r >= 100:
        return f"{r:.0f}×"
    if r >= 10:
        return f"{r:.1f}×"
    return f"{r:.2f}×" if r >= 0.1 else f"{r:.2g}×"


def build_table(records: list[dict], full: bool, auto_available: bool, groups=None) -> tuple[str, list[str]]:
    """The comparison table and its notes, from the workers' records.

    Parameters
    ----------
    records : list of dict
        Cell records of all workers.
    full : bool
        Whether the over-forward Hessians at n = 1000 were run.
    auto_available : bool
        Whether ``dualad.transforms.jacobian`` existed (else the ``auto`` rows are left out).
    groups : list of str, optional
        Only the rows of these workloads (``--groups``).

    Returns
    -------
    tuple
        ``(table text, notes)``.
    """
    cells = {}
    notes = []
    for r in records:
        key = (r["group"], r["mode"], r["system"], r["variant"])
        if "median" in r:
            cells[key] = r["median"]
        elif "wrong" in r:
            cells[key] = "WRONG"
            notes.append(f"WRONG {r['system']} {r['variant']} on {r['group']} {r['mode']}: {r['wrong']}")
        else:
            cells[key] = "error"
            notes.append(f"error {r['system']} {r['variant']} on {r['group']} {r['mode']}: {r['error']}")

    def lookup(row: Row, system: str, variant: str):
        if system == "numpy":
            return cells.get((row.group, "", system, variant))
        if row.mode == "auto" and system != "dualad":  # peers: their faster mode on this shape
            times = [cells.get((row.group, m, system, variant)) for m in ("forward", "reverse")]
            times = [t for t in times if isinstance(t, float)]
            return min(times) if times else None
        return cells.get((row.group, row.mode, system, variant))

    table_rows = [r for r in rows(full) if not groups or r.group.split()[0] in groups]
    if not auto_available:
        table_rows = [r for r in table_rows if r.mode != "auto"]
    title_w = max(len(r.title) for r in table_rows) + 2
    col_w = max(len(c[2]) for c in COLUMNS) + 2
    head = "workload".ljust(title_w) + "".join(c[2].rjust(col_w) for c in COLUMNS)
    lines = [head, "-" * len(head)]
    for row in table_rows:
        values = [lookup(row, s, v) for s, v, _ in COLUMNS]
        ours = [t for (s, _, _), t in zip(COLUMNS, values) if s == "dualad" and isinstance(t, float)]
        best = min(ours) if ours else None
        times, ratios = [], []
        for (system, _, _), t in zip(COLUMNS, values):
            if t is None:
                times.append("—")
                ratios.append("")
            elif isinstance(t, str):
                times.append(t)
                ratios.append("")
            else:
                times.append(_fmt_time(t) + ("*" if system == "dualad" and t == best and len(ours) > 1 else ""))
                ratios.append("" if system == "dualad" or best is None else _fmt_ratio(best / t))
        lines.append(row.title.ljust(title_w) + "".join(x.rjust(col_w) for x in times))
        lines.append("  dualad / column".ljust(title_w) + "".join(x.rjust(col_w) for x in ratios))
    return "\n".join(lines), notes


def thread_env(threads: int | None) -> dict[str, str]:
    """Environment variables that cap every system's thread pools at ``threads`` (none if None).

    OpenBLAS (NumPy, autograd), OpenMP and MKL (PyTorch), Numba (dualad) and XLA (JAX) each
    read their own variable; on a loaded 2-core machine an uncapped BLAS pool can slow a matmul
    tenfold, so ``--threads 1`` gives the steadiest ratios.
    """
    if threads is None:
        return {}
    n = str(threads)
    env = {k: n for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")}
    if threads == 1:
        env["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    return env


def _run_worker(system: str, budget: float, full: bool, threads: int | None, groups=None) -> tuple[list[dict], str | None, str | None]:
    env = dict(os.environ, **thread_env(threads))
    env["PYTHONPATH"] = os.pathsep.join([str(_ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.setdefault("JAX_PLATFORMS", "cpu")
    cmd = [sys.executable, "-m", f"{__package__ or 'benchmarks'}.compare", "--worker", system, "--budget", str(budget)]
    if full:
        cmd.append("--full")
    if groups:
        cmd += ["--groups", *groups]
    print(f"[{system}]", file=sys.stderr, flush=True)
    pin = one_cpu() if threads == 1 else None
    proc = subprocess.run(cmd, cwd=_ROOT, env=env, stdout=subprocess.PIPE, text=True, preexec_fn=pin)
    records, version = [], None
    for line in proc.stdout.splitlines():
        if line.startswith(_TAG):
            rec = json.loads(line[len(_TAG):])
            if rec["kind"] == "version":
                version = rec["version"]
            else:
                records.append(rec)
    failure = None if proc.returncode == 0 else f"{system}: worker exited with status {proc.returncode} (cells before that are kept)"
    return records, version, failure


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; see the module docstring."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.compare", description=__doc__.split("\n")[0])
    parser.add_argument("--systems", nargs="+", choices=list(SYSTEMS), default=list(SYSTEMS), help="systems to run (default: all installed)")
    parser.add_argument("--budget", type=float, default=0.5, help="seconds of samples per cell (3 to 25 samples; default 0.5)")
    parser.add_argument("--full", action="store_true", help="also run the over-forward Hessians at n = 1000 (minutes, GBs)")
    parser.add_argument("--threads", type=int, help="cap every system's thread pools (BLAS, OpenMP, Numba, XLA) at this many")
    parser.add_argument("--json", type=Path, help="also write every cell record to this file")
    parser.add_argument("--groups", nargs="+", help="only these workloads (W1 ... W6, P); default: all")
    parser.add_argument("--worker", choices=list(SYSTEMS), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker, args.budget, args.full, args.groups)
        return 0

    started = time.perf_counter()
    records, versions, notes = [], {}, []
    for system in args.systems:
        if importlib.util.find_spec(SYSTEMS[system]) is None:
            notes.append(f"{system}: not installed, skipped (pip install -e '.[bench]' installs the peers)")
            continue
        recs, version, failure = _run_worker(system, args.budget, args.full, args.threads, args.groups)
        records += recs
        versions[system] = version
        if failure:
            notes.append(failure)
    auto = importlib.util.find_spec("dualad.transforms.jacobian") is not None
    if not auto:
        notes.append("dualad.transforms.jacobian does not exist: the W4 'auto' rows are left out; compare the forward/reverse rows")
    table, cell_notes = build_table(records, args.full, auto, args.groups)

    print(f"dualad vs peers — {datetime.datetime.now():%Y-%m-%d %H:%M}, {platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, float64, median of one call, {args.budget:g} s of samples per cell, "
          f"threads: {args.threads or 'library defaults'}")
    print("versions: " + ", ".join(f"{s} {v}" for s, v in versions.items()))
    print()
    print(table)
    print()
    print("* fastest dualad variant of the row; ratios are that time / the column's time (< 1: dualad is faster).")
    print("W4 auto rows: peer columns repeat that system's faster mode (no peer chooses the mode).")
    if not args.full:
        print("W5 n=1000 over-forward orders skipped (n² lanes, tens of seconds and GBs per call); --full runs them.")
    print("Every timed cell was first checked against the hand-written NumPy reference (rtol 1e-8); — means not applicable.")
    print("The machine is shared and noisy: compare ratios from one run, not absolute times across runs.")
    for note in notes + cell_notes:
        print("note: " + note)
    print(f"total wall time {time.perf_counter() - started:.0f} s")
    if args.json:
        args.json.write_text(json.dumps({"versions": versions, "records": records, "notes": notes + cell_notes}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

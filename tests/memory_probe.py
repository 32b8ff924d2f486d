"""Traced memory of a training loop, measured in a fresh interpreter.

Run by tests/test_reverse.py as ``python tests/memory_probe.py NAME``; prints the marks as
JSON.  A fresh process keeps what earlier test modules left in global tables (and pytest's
own bookkeeping) out of the measurement: only dualad's behaviour over the loop is seen.
"""

from __future__ import annotations

import gc
import json
import sys
import tracemalloc

import numpy as np

import dualad as ad

_MEM_RNG = np.random.default_rng(4)
MX = _MEM_RNG.normal(size=(8, 3))
MY = _MEM_RNG.normal(size=8)


def measure(step, first=2000, window=4000):
    """Traced memory (current, peak) after ``first`` warm-up iterations of ``step`` (caches
    that fill once: NumPy's einsum paths, Python's free lists) and after each of two further
    windows of ``window`` iterations."""
    gc.collect()
    tracemalloc.start()
    marks = []
    try:
        for n in (first, window, window):
            for _ in range(n):
                step()
            gc.collect()
            marks.append(tracemalloc.get_traced_memory())
    finally:
        tracemalloc.stop()
    return marks


def variable_loop():
    """PyTorch style: a new leaf Variable per step."""
    state = {"w": ad.Variable(np.zeros(3))}

    def step():
        w = state["w"]
        loss = np.sum((MX @ w - MY) ** 2)
        loss.backward()
        state["w"] = ad.Variable(ad.primal(w) - 0.01 * w.grad)

    return step, lambda: ad.primal(state["w"])


def grad_loop():
    """JAX style: ``grad`` of a loss, applied to plain arrays."""
    g = ad.grad(lambda w: np.sum((MX @ w - MY) ** 2))
    state = {"w": np.zeros(3)}

    def step():
        state["w"] = state["w"] - 0.01 * g(state["w"])

    return step, lambda: state["w"]


LOOPS = {"variable": variable_loop, "grad": grad_loop}

if __name__ == "__main__":
    step, weights = LOOPS[sys.argv[1]]()
    marks = measure(step)
    print(json.dumps({"marks": marks, "w": [float(v) for v in weights()]}))

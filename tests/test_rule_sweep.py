"""Every elementwise rule in the table, every input, checked against finite differences.

A rule is tested just by being declared: the parametrisation walks ``dualad.rules.RULES``.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest

import dualad as ad
from dualad.rules import RULES

SHAPES = {
    "scalar": lambda nin: [()] * nin,
    "vector": lambda nin: [(5,)] * nin,
    "broadcast": lambda nin: [(3, 1)] + [(4,)] * (nin - 1),
}
TOL = {np.float64: dict(rtol=1e-6, atol=1e-6), np.float32: dict(rtol=1e-3, atol=1e-3)}
STEP = 1e-6


def _points(rule, shapes, dtype, seed_extra: str):
    rng = np.random.default_rng(zlib.crc32(f"{rule.name}/{seed_extra}".encode()))
    return [
        np.asarray(rng.uniform(lo, hi, size=shape), dtype=dtype)
        for (lo, hi), shape in zip(rule.domain, shapes)
    ]


@pytest.mark.parametrize("shape_kind", list(SHAPES))
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("rule", list(RULES.values()), ids=list(RULES))
def test_rule_forward_derivative(rule, dtype, shape_kind):
    nin = rule.nin
    assert len(rule.domain) == nin
    shapes = SHAPES[shape_kind](nin)
    xs = _points(rule, shapes, dtype, shape_kind)
    xs64 = [x.astype(np.float64) for x in xs]
    out_shape = np.broadcast_shapes(*shapes)
    f = lambda *a: rule(*a)  # noqa: E731

    # reference value, in float64 on the same points
    with np.errstate(all="ignore"):
        ref = np.asarray(rule(*xs64), dtype=np.float64)

    for i in range(nin):
        tangents = tuple(np.full(x.shape, 1.0 if j == i else 0.0, dtype=dtype) for j, x in enumerate(xs))
        y, ydot = ad.jvp(f, tuple(xs), tangents)
        y, ydot = np.asarray(y), np.asarray(ydot)
        assert y.dtype == dtype, f"{rule.name}: value dtype {y.dtype}, inputs {np.dtype(dtype)}"
        assert ydot.dtype == dtype, f"{rule.name}: tangent dtype {ydot.dtype}, inputs {np.dtype(dtype)}"
        assert y.shape == out_shape and ydot.shape == out_shape
        np.testing.assert_allclose(y, ref, **TOL[dtype], err_msg=f"{rule.name}: value")

        plus = [x.copy() for x in xs64]
        minus = [x.copy() for x in xs64]
        plus[i] = plus[i] + STEP
        minus[i] = minus[i] - STEP
        with np.errstate(all="ignore"):
            fd = (np.asarray(rule(*plus), np.float64) - np.asarray(rule(*minus), np.float64)) / (2 * STEP)
        fd = np.broadcast_to(fd, out_shape)
        np.testing.assert_allclose(
            ydot.astype(np.float64), fd, **TOL[dtype], err_msg=f"{rule.name}: d/dx{i} ({shape_kind}, {np.dtype(dtype)})"
        )

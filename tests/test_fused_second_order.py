"""Second derivatives from the rule table's own source (``dualad.rules.derive``) and the fused
forward-over-reverse kernels built on them, checked for every rule against finite differences,
reverse-over-reverse and the unfused path (the rule evaluated on Duals)."""

import numpy as np
import pytest
from helpers import TABLE_RULES

import dualad as ad
from dualad import kernels
from dualad.forward import dual as dual_mod
from dualad.rules import RULES
from dualad.rules.derive import NotDerivable, check_all, tangent_source

N = 300  # above the size from which kernels are used
SMOOTH = [r for r in TABLE_RULES.values() if None in r.constant_partials]  # SciPy's: test_rule_sweep


def _points(rule, n, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.uniform(lo, hi, n) for lo, hi in rule.domain]


def test_every_rule_has_a_derived_tangent():
    assert {name: why for name, why in check_all().items() if name in TABLE_RULES} == {}


def test_unsupported_source_is_reported():
    from dualad.rules.base import ElementwiseRule

    def looped(x):
        for _ in range(2):
            x = x + 1.0
        return x, 1.0

    with pytest.raises(NotDerivable, match="statement For"):
        tangent_source(ElementwiseRule("looped_example", looped, 1))


@pytest.mark.parametrize(("k", "g_tangent"), [(1, True), (3, False)], ids=["one-lane", "lanes-constant-g"])
@pytest.mark.parametrize("rule", SMOOTH, ids=lambda r: r.name)
def test_hvp_kernel_matches_finite_differences_of_the_partials(rule, k, g_tangent):
    """x̄ = ḡ·∂_i on dual numbers: primal ḡ·∂_i, tangent d/dε [(ḡ+εġ)·∂_i(x+εẋ)]."""
    rng = np.random.default_rng(1)
    xs = _points(rule, N)
    ts = [rng.standard_normal((k, N)) for _ in xs]
    if rule.nin > 1:
        ts[-1] = None  # a constant operand
    gp = rng.standard_normal(N)
    gt = rng.standard_normal((k, N)) if g_tangent else np.zeros((k, N))
    outs = kernels.hvp(rule, xs, ts, gp, gt if g_tangent else None, [True] * rule.nin, np.float64)
    eps = 1e-6

    def partial(i, sign):
        return rule.fn(*[x if t is None else x + sign * eps * t for x, t in zip(xs, ts)])[1 + i]

    for i in range(rule.nin):
        cp, ct = outs[i]
        np.testing.assert_allclose(cp, gp * rule.fn(*xs)[1 + i], rtol=1e-12, atol=1e-14)
        fd = ((gp + eps * gt) * partial(i, 1) - (gp - eps * gt) * partial(i, -1)) / (2 * eps)
        np.testing.assert_allclose(ct, fd, rtol=1e-5, atol=1e-5 * max(1.0, np.abs(fd).max()))


@pytest.mark.parametrize("rule", SMOOTH, ids=lambda r: r.name)
def test_hvp_of_every_rule_through_the_fused_path(rule, monkeypatch):
    """Forward over reverse at n ≥ 256 (fused kernels) equals reverse over reverse and finite
    differences of the gradient."""
    pts = _points(rule, N, seed=2)
    z = np.concatenate(pts)
    w = np.random.default_rng(3).uniform(0.5, 1.5, N)

    def f(z):
        return np.sum(w * rule(*[z[i * N:(i + 1) * N] for i in range(rule.nin)]))

    v = np.random.default_rng(4).standard_normal(z.shape)
    calls = []
    fused = dual_mod.Dual.fused_adjoints
    monkeypatch.setattr(dual_mod.Dual, "fused_adjoints", lambda *a: calls.append(1) or fused(*a))
    hv = ad.hvp(f, z, v)
    assert calls, "the fused kernel was not used"
    monkeypatch.undo()
    (rr,) = ad.vjp(ad.grad(f), z)[1](v)  # reverse over reverse: vᵀH = (Hv)ᵀ
    np.testing.assert_allclose(hv, rr, rtol=1e-10, atol=1e-12)
    eps = 1e-6
    fd = (ad.grad(f)(z + eps * v) - ad.grad(f)(z - eps * v)) / (2 * eps)
    np.testing.assert_allclose(hv, fd, rtol=1e-5, atol=1e-5 * max(1.0, np.abs(fd).max()))


def test_fused_and_unfused_paths_agree_with_lanes_broadcasting_and_float32(monkeypatch):
    rng = np.random.default_rng(5)
    x = rng.uniform(0.3, 1.5, (20, 15))
    b = rng.uniform(0.5, 1.0, 15)

    def f(x):
        y = np.tanh(x * b) / (1.0 + x**2) + np.sin(x) * np.log(x + b)  # broadcast row b
        return np.sum(np.exp(-y) * y)

    V = rng.standard_normal((4,) + x.shape)  # four directions in one pass
    for dtype, rtol in ((np.float64, 1e-11), (np.float32, 1e-4)):
        xd, Vd = x.astype(dtype), V.astype(dtype)
        fused = ad.hvp(f, xd, Vd)
        with monkeypatch.context() as m:
            m.setattr(dual_mod.Dual, "fused_adjoints", lambda *a: None)
            plain = ad.hvp(f, xd, Vd)
        assert fused.dtype == dtype and fused.shape == V.shape
        np.testing.assert_allclose(fused, plain, rtol=rtol, atol=rtol)
    H = ad.hessian(f, mode="reverse-over-reverse")(x).reshape(x.size, x.size)
    np.testing.assert_allclose(ad.hvp(f, x, V).reshape(4, -1), V.reshape(4, -1) @ H, rtol=1e-9, atol=1e-10)


def test_strong_zeros_at_second_order_in_the_fused_kernels():
    """d²/dx² of x·√x at 0 and an unselected where-branch: no NaN, as on small arrays."""
    x = np.zeros(N)
    x[::2] = np.linspace(0.1, 2.0, N // 2)

    def f(x):
        return np.sum(x * np.sqrt(x)) + np.sum(np.where(x > 0.5, np.log(x), x))

    big = ad.hvp(f, x, np.ones(N))
    small = np.concatenate([ad.hvp(f, x[i:i + 10], np.ones(10)) for i in range(0, N, 10)])
    assert not np.isnan(big).any()
    np.testing.assert_allclose(big, small, rtol=1e-12, atol=0)


def test_a_rule_the_transform_cannot_read_falls_back_to_dual_evaluation():
    from dualad.rules import elementwise
    from dualad.rules.derive import derivable

    @elementwise("unpacking_example", domain=((0.5, 1.5),))
    def unpacking(x):
        v, d = x * x * x, 3.0 * x * x  # tuple assignment: outside the transform's reach
        d += 0.0
        return v, d

    try:
        assert not derivable(unpacking)
        x = np.linspace(0.5, 1.5, N)
        hv = ad.hvp(lambda x: np.sum(unpacking(x)), x, np.ones(N))
        np.testing.assert_allclose(hv, 6.0 * x, rtol=1e-12)
    finally:
        RULES.pop("unpacking_example")

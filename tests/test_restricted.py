"""Kernels that compute only what they write (:func:`dualad.rules.derive.restricted`).

A rule returns ``(value, *partials)``; the value kernels (CPU, CUDA, the VM's forward
instructions, a fused run's values) call a copy of it restricted to the value, and the forward
and adjoint kernels copies restricted to the partials of the inputs that carry tangents or whose
adjoints are written.  A native function such as SciPy's ``psi`` is not dead code the compiler
may drop, so without these copies ``scipy.special.gamma``'s value kernel paid for its partial
too.  Checked: every rule's restricted copies agree with the rule slot by slot; the statements
only the dropped slots read are not run; the copies of SciPy's rules call no function of a
dropped partial; the kernels' values and partials (value kernel, forward and adjoint with some
inputs constant, the VM, fused runs) against SciPy and the full rule.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special

import dualad as ad
import dualad.rules.special  # noqa: F401  (SciPy's rules join the table)
from dualad import kernels
from dualad.kernels import backend
from dualad.rules import RULES
from dualad.rules.derive import restricted, with_value, without_value
from dualad.transforms.fusion import FusedRun


def _point(rule, u):
    xs = [np.float64(lo + t * (hi - lo)) for (lo, hi), t in zip(rule.domain, u)]
    return [np.round(x) if isinstance(lo, int) else x for x, (lo, _) in zip(xs, rule.domain)]  # integer orders


@pytest.mark.parametrize("name", list(RULES))
@settings(max_examples=5, deadline=None)
@given(u=st.lists(st.floats(0.0, 1.0), min_size=4, max_size=4))  # (hyp2f1 has four inputs)
def test_restricted_copies_agree_with_the_rule(name, u):
    """Each slot kept is the rule's own, each dropped one is 0, for the value alone, each
    partial alone and every partial (``without_value``)."""
    rule = RULES[name]
    xs = _point(rule, u)
    with np.errstate(all="ignore"):
        want = np.array(rule.fn(*xs), dtype=complex if rule.takes_complex else float)
        keeps = [(0,)] + [(i + 1,) for i in range(rule.nin)] + [tuple(range(1, rule.nin + 1))]
        for keep in keeps:
            got = np.array(restricted(rule.fn, keep)(*xs), dtype=want.dtype)
            expected = np.where([k in keep for k in range(rule.nin + 1)], want, 0.0)
            np.testing.assert_array_equal(got, expected, err_msg=f"{name} restricted to {keep}")
        np.testing.assert_array_equal(np.array(without_value(rule.fn)(*xs), dtype=want.dtype)[1:], want[1:])


_CALLS: list = []


def _counted(x):
    _CALLS.append(x)
    return 2.0 * x


def _costly(x, y):
    a = np.sin(x)
    b = _counted(y)  # read by the partial in y only
    c, d = b + 1.0, a * a
    c += d
    return a + y, np.cos(x), c


def test_statements_only_dropped_slots_read_are_not_run():
    _CALLS.clear()
    assert restricted(_costly, (0, 1))(0.5, 3.0) == (np.sin(0.5) + 3.0, np.cos(0.5), 0.0)
    assert _CALLS == []
    assert restricted(_costly, (2,))(0.5, 3.0) == (0.0, 0.0, 7.0 + np.sin(0.5) ** 2)
    assert _CALLS == [3.0]


def test_a_function_whose_source_cannot_be_read_is_returned_as_it_is():
    fn = eval("lambda x: (x, 1.0)")  # noqa: S307  (no source file)
    assert restricted(fn, (0,)) is fn


@pytest.mark.parametrize("name, keep, absent", [
    ("gamma", (0,), {"psi"}),                      # Γ′ = Γ ψ
    ("i0", (0,), {"i1"}),
    ("j1", (0,), {"j0"}),
    ("gammainc", (0,), {"gammainc_da", "gammaln"}),  # the value alone
    ("gammainc", (2,), {"gammainc_da", "gammainc"}),  # the partial in x alone (a constant)
    ("iv", (0,), {"fmin", "fmax"}),
    ("betainc", (0,), {"betaln", "log1p"}),
])
def test_copies_of_scipy_rules_call_no_function_of_a_dropped_slot(name, keep, absent):
    fn = restricted(RULES[name].kernel_fn, keep)
    assert not absent & set(fn.__code__.co_names), fn.__code__.co_names


def test_with_value_restricted_to_the_partials_written():
    dual = with_value(RULES["iv"].fn, (2,))
    v, x = 1.5, np.float64(0.7)
    assert dual(v, x, special.iv(v, x)) == pytest.approx((0.0, 0.0, RULES["iv"].fn(v, x)[2]), rel=1e-15)
    assert "iv" in dual.__code__.co_names and "y" in dual.__code__.co_varnames


# --- the kernels ---------------------------------------------------------------------------------

N = 2 * backend.SMALL
SPECIAL = [
    ("gamma", (), (0.3, 3.0)), ("psi", (), (0.3, 3.0)), ("i0", (), (-2.0, 2.0)), ("j1", (), (-2.0, 2.0)),
    ("y1", (), (0.3, 3.0)), ("gammainc", (2.0,), (0.2, 3.0)), ("iv", (1.5,), (0.2, 3.0)), ("yn", (2.0,), (0.3, 3.0)),
    ("betainc", (2.0, 3.0), (0.1, 0.9)), ("stdtr", (4.0,), (-3.0, 3.0)),
]


@pytest.mark.parametrize("name, lead, span", SPECIAL)
def test_value_kernel_is_scipys_value(name, lead, span):
    rule = RULES[name]
    x = np.linspace(*span, N)
    want = rule.ufunc(*lead, x)
    np.testing.assert_allclose(kernels.value(rule, [*lead, x], np.float64), want, rtol=1e-14, atol=1e-300)
    # every input an array
    xs = [np.full(N, a) for a in lead] + [x]
    np.testing.assert_allclose(kernels.value(rule, xs, np.float64), want, rtol=1e-14, atol=1e-300)


@pytest.mark.parametrize("name", ["gammainc", "gammaincc", "beta", "xlogy", "kl_div", "chdtr"])
def test_partials_of_some_inputs_are_those_of_the_full_rule(name):
    """Adjoint kernels writing one adjoint, forward kernels with one input's tangents: the same
    numbers as the kernels that compute every partial."""
    rule = RULES[name]
    rng = np.random.default_rng(3)
    xs = [rng.uniform(lo, hi, N) for lo, hi in rule.domain]
    g = rng.standard_normal((2, N))
    full = kernels.vjp(rule, xs, g, [True, True], np.float64)
    for i in range(2):
        needed = [k == i for k in range(2)]
        (part,) = [c for c in kernels.vjp(rule, xs, g, needed, np.float64) if c is not None]
        np.testing.assert_array_equal(part, full[i])
        ts = [rng.standard_normal((3, N)) if k == i else None for k in range(2)]
        y, ty = kernels.jvp(rule, xs, ts, np.float64)
        partial = rule.fn(*xs)[i + 1]
        np.testing.assert_allclose(y, rule.ufunc(*xs), rtol=1e-14)
        np.testing.assert_allclose(ty, partial * ts[i], rtol=1e-13, atol=1e-300)


def test_gradient_in_x_of_gammainc_with_a_constant_shape():
    """The a-partial is not computed where a is constant: the x-gradient is the density."""
    x = np.linspace(0.2, 6.0, N)
    for a in (0.5, 2.0, 7.5):
        want = np.exp((a - 1.0) * np.log(x) - x - special.gammaln(a))
        np.testing.assert_allclose(ad.grad(lambda x: np.sum(special.gammainc(a, x)))(x), want, rtol=1e-13)
        np.testing.assert_allclose(ad.grad(lambda x: np.sum(special.gammaincc(a, x)))(x), -want, rtol=1e-13)


@pytest.mark.parametrize("n", [6, 6000])  # the VM's instructions; a fused run (4096 elements or more)
def test_recorded_programs_compute_values_of_special_functions(n):
    def f(x):
        return np.sum(special.gamma(x) * special.i0(x) + special.gammainc(2.0, x))

    x0 = np.linspace(0.3, 2.5, n)
    rec = ad.record(f, x0)
    assert rec.program() is not None
    x = x0 + 0.05
    np.testing.assert_allclose(rec(x), f(x), rtol=1e-13)
    dens = np.exp(np.log(x) - x)  # d/dx P(2, x)
    want = special.gamma(x) * special.psi(x) * special.i0(x) + special.gamma(x) * special.i1(x) + dens
    np.testing.assert_allclose(rec.grad(x), want, rtol=1e-12)
    if n > 4096:
        assert any(isinstance(h, FusedRun) for _, _, h in rec.program().steps)


def test_a_compiled_recording_with_constant_operands():
    """``Recording.compile()``'s loop calls each rule restricted to the value and the partials
    of its operands that are not constants: gammainc(2, x)'s a-partial is not among them."""
    def f(x):
        return np.sum(special.gammainc(2.0, x) * x + special.beta(x, 1.5))

    x = np.linspace(0.3, 3.0, 40)
    fast = ad.record(f, x).compile()
    x = x + 0.1
    v, g = fast.value_and_grad(x)
    beta = special.beta(x, 1.5)
    want = np.exp(np.log(x) - x) * x + special.gammainc(2.0, x) + beta * (special.psi(x) - special.psi(x + 1.5))
    np.testing.assert_allclose(v, f(x), rtol=1e-13)
    np.testing.assert_allclose(g, want, rtol=1e-12)

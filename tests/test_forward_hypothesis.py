"""Property test: random compositions of unary rules, forward derivative vs finite differences.

Between steps the running value is squashed smoothly into the interior of the next rule's
declared domain (``lo + w * (0.5 + 0.45 * tanh(u + c))``), so every composition is defined;
the squash itself is differentiated too.  The offset ``c`` keeps simple inputs (0, 1, ...)
from landing exactly on a kink such as floor's jumps; inputs whose finite differences are
inconsistent between two step sizes (a jump inside the step) are rejected.
"""

from __future__ import annotations

import numpy as np
from helpers import TABLE_RULES as RULES  # dualad's own rules (SciPy's: test_rule_sweep)
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import dualad as ad

UNARY = sorted(name for name, rule in RULES.items() if rule.nin == 1)
OFFSET = 0.1234567


def _compose(names):
    def f(x):
        for name in names:
            rule = RULES[name]
            lo, hi = rule.domain[0]
            z = lo + (hi - lo) * (0.5 + 0.45 * np.tanh(x + OFFSET))
            x = rule(z)
        return x

    return f


def _fd(f, x, v, h):
    with np.errstate(all="ignore"):
        return (f(x + h * v) - f(x - h * v)) / (2 * h)


@settings(max_examples=40, deadline=None)
@given(
    names=st.lists(st.sampled_from(UNARY), min_size=1, max_size=4),
    x=hnp.arrays(np.float64, st.integers(1, 5), elements=st.floats(-3.0, 3.0)),
    seed=st.integers(0, 2**16),
)
def test_random_unary_compositions(names, x, seed):
    f = _compose(names)
    v = np.random.default_rng(seed).uniform(0.5, 1.5, size=x.shape)
    fd = _fd(f, x, v, 1e-6)
    fd_coarse = _fd(f, x, v, 1e-5)
    assume(np.allclose(fd, fd_coarse, rtol=1e-3, atol=1e-4))  # no jump inside the step

    y, ydot = ad.jvp(f, (x,), (v,))
    assert y.dtype == np.float64 and ydot.dtype == np.float64
    np.testing.assert_allclose(y, f(x), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ydot, fd, rtol=1e-4, atol=1e-5, err_msg=" -> ".join(names))

    # elementwise composition: the Jacobian is diagonal, its diagonal the derivative
    J = ad.jacfwd(f)(x)
    np.testing.assert_allclose(J, np.diag(ydot / v), rtol=1e-10, atol=1e-12)

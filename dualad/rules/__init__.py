"""The rule table: elementwise rules (``elementwise``) and structural ops (``structural``).

Everything that differentiates draws from here; nothing here imports the layers above
(kernels, forward, reverse, transforms) at module level.
"""

import sys

from . import elementwise as _elementwise  # noqa: F401  (declaring the rules registers them)
from .base import ALL_DTYPES, FUNCTION_RULES, IMPLEMENTATIONS, RULES, UFUNC_RULES, ElementwiseRule, elementwise, implementation

__all__ = [
    "RULES",
    "UFUNC_RULES",
    "FUNCTION_RULES",
    "IMPLEMENTATIONS",
    "ElementwiseRule",
    "elementwise",
    "ALL_DTYPES",
    "implementation",
    "coverage_table",
    "public_name",
]


def public_name(rule: ElementwiseRule) -> str:
    """How a user reaches the rule: ``np.sin``, ``np.clip``, ``scipy.special.erf`` or ``dualad.relu``.

    Examples
    --------
    >>> from dualad.rules import RULES, public_name
    >>> public_name(RULES["clip"]), public_name(RULES["relu"])
    ('np.clip', 'dualad.relu')
    """
    f = rule.function
    if f is None:
        return f"dualad.{rule.name}"
    for prefix, module in (("np", "numpy"), ("scipy.special", "scipy.special")):
        if getattr(sys.modules.get(module), f.__name__, None) is f:
            return f"{prefix}.{f.__name__}"
    return f"{getattr(f, '__module__', None) or '?'}.{f.__name__}"


def coverage_table() -> str:
    """The rule table as a Markdown table: every rule, its inputs, its convention at
    non-differentiable points and whether it takes complex values (holomorphic, or not
    holomorphic with Wirtinger partials), read from the declarations alone.
    ``docs/coverage.md`` is generated from it.

    Examples
    --------
    >>> from dualad.rules import coverage_table
    >>> print(coverage_table().splitlines()[0])
    | rule | NumPy | inputs | at non-differentiable points | complex |
    """
    lines = ["| rule | NumPy | inputs | at non-differentiable points | complex |", "|---|---|---|---|---|"]
    for rule in RULES.values():
        cplx = "real only" if not rule.takes_complex else ("holomorphic" if rule.wirtinger is None else "not holomorphic (∂/∂z, ∂/∂z̄)")
        lines.append(f"| {rule.name} | `{public_name(rule)}` | {rule.nin} | {rule.nondiff or 'smooth on its domain'} | {cplx} |")
    return "\n".join(lines)

"""The rule table: elementwise rules (``elementwise``) and structural ops (``structural``).

Everything that differentiates draws from here; nothing here imports the layers above
(kernels, forward, reverse, transforms) at module level.
"""

from . import elementwise as _elementwise  # noqa: F401  (declaring the rules registers them)
from .base import RULES, UFUNC_RULES, ElementwiseRule, elementwise

__all__ = ["RULES", "UFUNC_RULES", "ElementwiseRule", "elementwise"]


def coverage_table() -> str:
    """The rule table as a Markdown table: every rule, its inputs and its convention at
    non-differentiable points.  ``docs/coverage.md`` is generated from it.

    Examples
    --------
    >>> from dualad.rules import coverage_table
    >>> print(coverage_table().splitlines()[0])
    | rule | NumPy | inputs | at non-differentiable points |
    """
    lines = ["| rule | NumPy | inputs | at non-differentiable points |", "|---|---|---|---|"]
    for rule in RULES.values():
        numpy_name = f"`np.{rule.ufunc.__name__}`" if rule.ufunc is not None else (
            "`np.clip`" if rule.name == "clip" else f"`dualad.{rule.name}`")
        lines.append(f"| {rule.name} | {numpy_name} | {rule.nin} | {rule.nondiff or 'smooth on its domain'} |")
    return "\n".join(lines)

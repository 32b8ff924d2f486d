"""The rule table: elementwise rules (``elementwise``) and structural ops (``structural``).

Everything that differentiates draws from here; nothing here imports the layers above
(kernels, forward, reverse, transforms) at module level.
"""

from . import elementwise as _elementwise  # noqa: F401  (declaring the rules registers them)
from .base import RULES, UFUNC_RULES, ElementwiseRule, elementwise

__all__ = ["RULES", "UFUNC_RULES", "ElementwiseRule", "elementwise"]

"""Show the work: evaluation, tangent and adjoint traces of a function, and its graph.

:func:`trace` runs a function once on values that record everything (a tape that keeps every
intermediate value, each value a dual number carrying one tangent direction), sweeps the tape
backwards, and lays out the three traces of the lecture notes: the forward primal (evaluation)
trace, the forward tangent (derivative) trace and the reverse adjoint trace.
"""

from .trace import Trace, trace

__all__ = ["Trace", "trace"]

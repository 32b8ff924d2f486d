"""Keep freed memory for reuse: the CPU counterpart of a caching allocator.

Differentiating array code allocates many arrays of the same sizes again and again (values on a
tape, tangent lanes, adjoints).  With glibc's default settings, blocks above 128 KiB come from
fresh ``mmap`` pages and freed memory at the top of the heap goes back to the system, so every
iteration pays a page fault per 4 KiB touched — measured here at several times the arithmetic
itself (an HVP at n = 1e5: 26 ms with the defaults, 8 ms with memory kept).  At import, dualad
raises glibc's mmap and trim thresholds so that freed blocks are reused; set
``DUALAD_KEEP_MEMORY=0`` before importing to leave the allocator as it is.  Elsewhere than
glibc this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

__all__ = ["keep_freed_memory", "KEPT"]

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

#: Whether the allocator settings were applied in this process.
KEPT = False


def keep_freed_memory(mmap_threshold: int = 32 << 20, trim_threshold: int = 1 << 30) -> bool:
    """Ask glibc to serve blocks below ``mmap_threshold`` from the heap and to keep up to
    ``trim_threshold`` bytes of free heap; returns whether it applied.

    Examples
    --------
    >>> from dualad.core.memory import keep_freed_memory
    >>> isinstance(keep_freed_memory(), bool)
    True
    """
    global KEPT
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    ok = mallopt(_M_MMAP_THRESHOLD, mmap_threshold) == 1 and mallopt(_M_TRIM_THRESHOLD, trim_threshold) == 1
    KEPT = KEPT or ok
    return ok


if os.environ.get("DUALAD_KEEP_MEMORY", "1") != "0":
    keep_freed_memory()

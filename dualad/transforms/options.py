"""The options of the Jacobian engine, validated once: chunk sizes, memory limits, executors,
sparsity arguments, and :class:`JacobianOptions`, the frozen bundle that jacfwd, jacrev,
jacobian, hessian and sparse_hessian share.

Examples
--------
>>> from dualad.transforms.options import JacobianOptions
>>> JacobianOptions.make("jacobian", chunk_size=4, memory_limit="1MiB").memory_limit
1048576
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

import numpy as np

__all__ = [
    "AUTO_SPARSE_MIN_LANES",
    "JacobianOptions",
    "check_chunk_size",
    "parse_bytes",
    "parse_executor",
    "sparse_input",
    "default_memory_limit",
]

_MEM_DEFAULT: list = []


def default_memory_limit() -> int:
    """A quarter of the available memory (``MemAvailable`` in /proc/meminfo, else of physical
    memory), in bytes; 1 GiB if neither can be read.

    Examples
    --------
    >>> from dualad.transforms.options import default_memory_limit
    >>> default_memory_limit() > 0
    True
    """
    if not _MEM_DEFAULT:
        avail = None
        try:
            with open("/proc/meminfo") as fh:
                for line in fh:
                    if line.startswith("MemAvailable:"):
                        avail = int(line.split()[1]) * 1024
                        break
        except OSError:
            pass
        if avail is None:
            try:
                avail = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
            except (ValueError, OSError, AttributeError):
                avail = 4 << 30
        _MEM_DEFAULT.append(max(int(avail) // 4, 1 << 20))
    return _MEM_DEFAULT[0]


#: Automatic colouring (``sparsity=None``) of a dense Jacobian (``mode="auto"``, in both
#: modes) or Hessian is considered from this many lanes: a lane costs at least ~10% of a
#: recording, a pattern trace ~20 (a dense Hessian costs n passes' worth of lanes).
AUTO_SPARSE_MIN_LANES = 200

_UNITS = {"": 1, "b": 1, "k": 1e3, "kb": 1e3, "m": 1e6, "mb": 1e6, "g": 1e9, "gb": 1e9, "t": 1e12, "tb": 1e12,
          "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40}


def parse_bytes(v, name: str) -> int | None:
    """A memory limit in bytes from an int or a string such as ``"2GB"`` or ``"512MiB"``.

    Examples
    --------
    >>> from dualad.transforms.options import parse_bytes
    >>> parse_bytes("2GB", "jacobian"), parse_bytes(None, "jacobian")
    (2000000000, None)
    """
    if v is None:
        return None
    if isinstance(v, str):
        m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*", v)
        if not m or m.group(2).lower() not in _UNITS:
            raise ValueError(f"{name}: cannot read memory_limit={v!r}; give bytes (an int) or a string like '2GB' or '512MiB'")
        v = float(m.group(1)) * _UNITS[m.group(2).lower()]
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or not v > 0:
        raise ValueError(f"{name}: memory_limit must be a positive number of bytes, got {v!r}")
    return int(v)


def check_chunk_size(chunk_size, name: str) -> int | None:
    """``chunk_size`` as a positive int (or None); anything else raises ``ValueError``.

    Examples
    --------
    >>> from dualad.transforms.options import check_chunk_size
    >>> check_chunk_size(3, "jacfwd"), check_chunk_size(None, "jacfwd")
    (3, None)
    """
    if chunk_size is None:
        return None
    ok = not isinstance(chunk_size, bool)
    try:
        value = int(chunk_size)
    except (TypeError, ValueError):
        ok = False
    if not ok or value < 1 or value != chunk_size:
        raise ValueError(f"{name}: chunk_size must be a positive integer, got {chunk_size!r}")
    return value


def _is_dask_client(executor) -> bool:
    mod = type(executor).__module__ or ""
    return mod.startswith("distributed") and callable(getattr(executor, "get_executor", None))


def parse_executor(executor, name: str):
    """``executor`` if it has ``.submit`` (a ``concurrent.futures.Executor``), a Dask
``distributed.Client``'s executor for a Client, or None.

    Examples
    --------
    >>> from concurrent.futures import ThreadPoolExecutor
    >>> from dualad.transforms.options import parse_executor
    >>> with ThreadPoolExecutor(1) as ex:
    ...     parse_executor(ex, "jacobian") is ex
    True
    """
    if _is_dask_client(executor):
        # A Client's own submit returns Dask futures, which concurrent.futures cannot wait on;
        # its executor view returns concurrent.futures ones, run on the same cluster.
        return executor.get_executor()
    if executor is not None and not callable(getattr(executor, "submit", None)):
        raise TypeError(f"{name}: executor must be a concurrent.futures.Executor (something with .submit), got {type(executor).__name__}")
    return executor


def sparse_input(sparsity, name: str):
    """The given pattern of a ``sparsity=`` argument: None for None or ``"auto"``.

    Examples
    --------
    >>> from dualad.transforms.options import sparse_input
    >>> sparse_input("auto", "jacobian") is None
    True
    """
    if sparsity is None or sparsity is False or (isinstance(sparsity, str) and sparsity == "auto"):
        return None
    if isinstance(sparsity, str):
        raise ValueError(f"{name}: sparsity must be None, False, 'auto' or a scipy.sparse pattern, got {sparsity!r}")
    if not (hasattr(sparsity, "shape") and len(getattr(sparsity, "shape", ())) == 2):
        raise TypeError(f"{name}: sparsity must be None, False, 'auto' or a 2-D scipy.sparse pattern, got {type(sparsity).__name__}")
    return sparsity


@dataclass(frozen=True)
class JacobianOptions:
    """The engine's options for one transform, checked once when the transform is made.

    Attributes
    ----------
    name : str
        The transform, for messages.
    mode : str
        The requested mode (``"auto"``, ``"forward"``, ``"reverse"`` or a Hessian order).
    chunk_size : int or None
        Lanes per pass (None: from the memory model, or all at once).
    memory_limit : int or None
        Bytes (None: :func:`default_memory_limit` at call time).
    sparse : bool
        ``sparsity`` was given (``"auto"`` or a pattern): the result is sparse.
    auto_sparse : bool
        ``mode="auto"`` and ``sparsity=None``: a dense result that may be computed by colouring
        when the cost model says it pays (``sparsity=False`` turns this off).
    pattern : object
        The given pattern, or None.
    executor : concurrent.futures.Executor or None
        Where the passes run.
    progress : bool
        Show a progress bar over passes.

    Examples
    --------
    >>> from dualad.transforms.options import JacobianOptions
    >>> JacobianOptions.make("jacfwd", chunk_size=2).chunk_size
    2
    """

    name: str
    mode: str = "auto"
    chunk_size: int | None = None
    memory_limit: int | None = None
    sparse: bool = False
    auto_sparse: bool = False
    pattern: object = None
    executor: object = None
    progress: bool = False

    @classmethod
    def make(cls, name: str, mode: str = "auto", chunk_size=None, memory_limit=None, sparsity=None,
             executor=None, progress: bool = False) -> JacobianOptions:
        """Validate every option (raising ``ValueError``/``TypeError`` naming ``name``)."""
        return cls(
            name=name,
            mode=mode,
            chunk_size=check_chunk_size(chunk_size, name),
            memory_limit=parse_bytes(memory_limit, name),
            sparse=sparsity is not None and sparsity is not False,
            auto_sparse=sparsity is None and mode == "auto",
            pattern=sparse_input(sparsity, name),
            executor=parse_executor(executor, name),
            progress=bool(progress),
        )

    def chunk(self, N: int) -> int:
        """Lanes per pass for N lanes when nothing else bounds it."""
        return max(1, N if self.chunk_size is None else min(self.chunk_size, max(N, 1)))

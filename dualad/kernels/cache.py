"""The kernel cache: a private folder for generated kernel modules and Numba's cache of them.

dualad imports the modules it generates, and Numba loads pickled code next to them
(``__pycache__``), so whoever can write into the folder decides what code runs.  The folder is
therefore created with mode 0700 and used only if this user owns it and nobody else can write
to it (nor to its ``__pycache__``); otherwise dualad falls back to a fresh private folder from
:func:`tempfile.mkdtemp`.  The default is ``$XDG_CACHE_HOME/dualad`` (``~/.cache/dualad``);
``DUALAD_CACHE_DIR`` chooses another, and a warning says when that one cannot be used.
"""

from __future__ import annotations

import importlib.util
import os
import stat
import sys
import tempfile
import threading
import warnings
from pathlib import Path

__all__ = ["cache_dir", "load_generated", "is_private", "FORMAT", "FOLDER"]

FORMAT = 8  # bump when the generated source changes shape


def _source_fingerprint() -> str:
    """A hash of the code that generated kernels import and compile into themselves (the rule
    table, the code that rewrites rules, the generators), read once at import.  Numba checks a
    cached kernel against its own module file only: without this, a kernel compiled by another
    version of dualad (or by a process whose rules' source changed on disk under it) would be
    loaded as it was."""
    import hashlib

    digest = hashlib.sha1()
    root = Path(__file__).resolve().parent.parent
    try:
        for folder in ("rules", "kernels"):
            for path in sorted((root / folder).glob("*.py")):
                digest.update(path.name.encode())
                digest.update(path.read_bytes())
    except OSError:  # (not installed as files: the installed version names the code)
        from importlib import metadata

        digest.update(metadata.version("dualad").encode())
    return digest.hexdigest()[:10]


#: The cache's subfolder: the generated sources' format and the code that compiles into them.
FOLDER = f"kernels-v{FORMAT}-{_source_fingerprint()}"

_CHOSEN: dict[tuple, Path] = {}
_LOCK = threading.Lock()


def is_private(path: Path) -> bool:
    """Whether ``path`` is a real folder (not a link) that this user owns and that nobody else
    can write to, and the same for its ``__pycache__`` (Numba's cache) if there is one.

    Examples
    --------
    >>> import os, tempfile
    >>> from pathlib import Path
    >>> from dualad.kernels.cache import is_private
    >>> d = Path(tempfile.mkdtemp())
    >>> is_private(d)
    True
    >>> os.chmod(d, 0o777)
    >>> is_private(d)
    False
    """
    for p in (path, path / "__pycache__"):
        try:
            st = os.lstat(p)
        except FileNotFoundError:
            if p is path:
                return False
            continue
        if not stat.S_ISDIR(st.st_mode):
            return False
        if hasattr(os, "getuid") and st.st_uid != os.getuid():
            return False
        if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            return False
    return True


def _make_private(path: Path) -> bool:
    """Create ``path`` (mode 0700, missing parents too) and check it; False if unusable."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not is_private(path):
            return False
        probe = path / ".writable"
        probe.touch()
        return True
    except OSError:
        return False


def cache_dir() -> Path:
    """The folder where generated kernel modules (and Numba's cache of them) are kept.

    ``DUALAD_CACHE_DIR`` overrides the default ``~/.cache/dualad`` (``$XDG_CACHE_HOME/dualad``).
    A folder that another user owns, or that others can write to, is refused: dualad then uses
    a fresh private temporary folder (kernels compile again in each process), with a warning
    when the refused folder was named by ``DUALAD_CACHE_DIR``.

    Examples
    --------
    >>> from dualad.kernels.cache import cache_dir, is_private
    >>> is_private(cache_dir())
    True
    """
    explicit = os.environ.get("DUALAD_CACHE_DIR")
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    key = (explicit, base)
    chosen = _CHOSEN.get(key)
    if chosen is not None and chosen.is_dir():
        return chosen
    with _LOCK:
        path = (Path(explicit) if explicit else Path(base) / "dualad") / FOLDER
        if not _make_private(path):
            if explicit:
                warnings.warn(
                    f"DUALAD_CACHE_DIR={explicit!r} cannot be used for dualad's kernel cache: {path} must be a folder "
                    "this user owns and can write, and that no other user can write to. Using a private temporary "
                    "folder instead (kernels are compiled again in every process); point DUALAD_CACHE_DIR at a "
                    "folder of your own (mode 0700) to keep them.",
                    RuntimeWarning,
                    stacklevel=3,
                )
            path = Path(tempfile.mkdtemp(prefix=f"dualad-kernels-v{FORMAT}-"))
        _CHOSEN[key] = path
        return path


def load_generated(modname: str, src: str):
    """Write generated source to the cache folder (atomically) and import it as a module, so
    that Numba can cache what it compiles from it.

    Examples
    --------
    >>> from dualad.kernels.cache import load_generated
    >>> load_generated("dualad_doc_example", "ANSWER = 42\\n").ANSWER
    42
    """
    path = cache_dir() / f"{modname}.py"
    if not path.exists() or path.read_text() != src:
        tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(src)
        os.replace(tmp, path)
    module = sys.modules.get(modname)
    if module is not None and getattr(module, "__dualad_source__", None) == src:
        return module
    spec = importlib.util.spec_from_file_location(modname, path)
    module = importlib.util.module_from_spec(spec)
    module.__dualad_source__ = src
    sys.modules[modname] = module
    spec.loader.exec_module(module)
    return module

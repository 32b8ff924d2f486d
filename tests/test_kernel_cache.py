"""The kernel cache folder is private: dualad imports generated modules and Numba loads pickled
code from it, so a folder another user owns or can write to must never be used."""

import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest

from dualad.kernels import cache


def _chosen(monkeypatch, tmp_path, **env):
    for k in ("DUALAD_CACHE_DIR", "XDG_CACHE_HOME"):
        monkeypatch.delenv(k, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, str(v))
    return cache.cache_dir()


def test_default_folder_is_created_private(monkeypatch, tmp_path):
    path = _chosen(monkeypatch, tmp_path, XDG_CACHE_HOME=tmp_path / "xdg")
    assert path == tmp_path / "xdg" / "dualad" / cache.FOLDER
    assert (path.stat().st_mode & 0o777) == 0o700
    assert cache.is_private(path)


def test_explicit_private_folder_is_used(monkeypatch, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir(mode=0o700)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        path = _chosen(monkeypatch, tmp_path, DUALAD_CACHE_DIR=mine)
    assert path.parent == mine


@pytest.mark.parametrize("where", ["folder", "pycache"])
def test_folder_others_can_write_is_refused_with_a_warning(monkeypatch, tmp_path, where):
    shared = tmp_path / "shared"
    target = shared / cache.FOLDER
    target.mkdir(parents=True)
    bad = target if where == "folder" else target / "__pycache__"
    bad.mkdir(exist_ok=True)
    os.chmod(bad, 0o777)
    with pytest.warns(RuntimeWarning, match="DUALAD_CACHE_DIR=.*cannot be used"):
        path = _chosen(monkeypatch, tmp_path, DUALAD_CACHE_DIR=shared)
    assert shared not in path.parents and path != target
    assert cache.is_private(path)


def test_folder_owned_by_another_user_is_refused(monkeypatch, tmp_path):
    theirs = tmp_path / "theirs"
    (theirs / cache.FOLDER).mkdir(parents=True, mode=0o700)
    real = os.getuid()
    monkeypatch.setattr(cache.os, "getuid", lambda: real + 1)  # the folder now belongs to "someone else"
    assert not cache.is_private(theirs / cache.FOLDER)
    with pytest.warns(RuntimeWarning):
        path = _chosen(monkeypatch, tmp_path, DUALAD_CACHE_DIR=theirs)
    assert theirs not in path.parents


def test_link_is_refused(monkeypatch, tmp_path):
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    link = tmp_path / "link"
    (link).mkdir(mode=0o700)
    (link / cache.FOLDER).symlink_to(real)
    with pytest.warns(RuntimeWarning):
        path = _chosen(monkeypatch, tmp_path, DUALAD_CACHE_DIR=link)
    assert path.resolve() != real.resolve()


def test_unusable_default_falls_back_quietly(monkeypatch, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        path = _chosen(monkeypatch, tmp_path, XDG_CACHE_HOME=blocker)
    assert cache.is_private(path) and blocker not in path.parents


def test_foreign_folder_never_receives_code(tmp_path):
    """End to end in a fresh process: a kernel compiles and runs, and nothing is written into
    (or imported from) a folder that others can write to."""
    shared = tmp_path / "shared"
    target = shared / cache.FOLDER
    target.mkdir(parents=True)
    os.chmod(target, 0o777)
    planted = target / "planted.py"
    planted.write_text("raise SystemExit('planted code ran')\n")
    script = textwrap.dedent(
        """
        import warnings, numpy as np
        import dualad as ad
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            g = ad.grad(lambda x: np.sum(np.sin(x)))(np.zeros(5000))
        assert np.allclose(g, 1.0)
        assert any("cannot be used" in str(x.message) for x in w), [str(x.message) for x in w]
        from dualad.kernels.cache import cache_dir
        print(cache_dir())
        """
    )
    env = dict(os.environ, DUALAD_CACHE_DIR=str(shared))
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    used = Path(out.stdout.strip().splitlines()[-1])
    assert shared not in used.parents
    assert sorted(p.name for p in target.iterdir()) == ["planted.py"]

"""Every numbered example runs (with small sizes) and gets the answers it promises."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import subprocess
import sys
import unicodedata
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("[0-9][0-9]_*.py"))


def load(path: Path):
    spec = importlib.util.spec_from_file_location(f"dualad_example_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(path: Path, tmp_path: Path):
    module = load(path)
    for name in getattr(module, "REQUIRES", ()):
        pytest.importorskip(name)
    kwargs = {"small": True}
    if "out" in inspect.signature(module.main).parameters:
        kwargs["out"] = tmp_path  # a folder for the plots and graphs it draws
    return module.main(**kwargs)


def example(prefix: str) -> Path:
    matches = [p for p in EXAMPLES if p.name.startswith(prefix)]
    assert matches, f"no example {prefix}_*.py"
    return matches[0]


def test_examples_are_found():
    names = [p.name[:2] for p in EXAMPLES]
    assert names[:7] == ["01", "02", "03", "04", "05", "06", "07"]


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_runs(path, tmp_path, capsys):
    run(path, tmp_path)
    assert capsys.readouterr().out.strip(), "an example should print what it shows"


def test_01_lecture_function(tmp_path):
    r = run(example("01"), tmp_path)
    assert r["value"] == pytest.approx(np.log(2.0) + 10.0 - np.sin(5.0))
    expected = (5.5, 2.0 - np.cos(5.0) + 0.0)
    for key in ("forward", "reverse", "variable"):
        assert r[key] == pytest.approx(expected, abs=1e-12)
    assert unicodedata.normalize("NFC", "x̄₂  = v̄₀") in str(r["trace"])


def test_02_numerical_vs_automatic(tmp_path):
    r = run(example("02"), tmp_path)
    assert r["ad_err"] <= 1e-13 * abs(r["by_hand"])
    assert abs(r["reverse"] - r["by_hand"]) <= 1e-12 * abs(r["by_hand"])
    # Finite differences never get close to that: the step-size dilemma.
    assert np.min(r["forward_err"]) > 1e-10
    assert np.min(r["central_err"]) < np.min(r["forward_err"])
    if importlib.util.find_spec("matplotlib") is not None:
        assert r["plot"] is not None and Path(r["plot"]).stat().st_size > 0


def test_03_ols_three_ways(tmp_path):
    r = run(example("03"), tmp_path)
    for key in ("grad", "backward", "optimizer"):
        np.testing.assert_allclose(r[key], r["lstsq"], atol=1e-8)


def test_04_logistic_regression(tmp_path):
    r = run(example("04"), tmp_path)
    assert r["loss"] == pytest.approx(r["reference_loss"], abs=1e-6)
    assert r["test_accuracy"] > 0.8


def test_05_mlp_digits(tmp_path):
    pytest.importorskip("sklearn")
    r = run(example("05"), tmp_path)
    for name, acc in r["accuracy"].items():
        assert acc >= 0.95, f"{name}: held-out accuracy {acc}"


def test_06_newton_and_scipy(tmp_path):
    r = run(example("06"), tmp_path)
    np.testing.assert_allclose(r["newton"], 1.0, atol=1e-8)
    for key in ("trust_exact", "newton_cg"):
        np.testing.assert_allclose(r[key].x, 1.0, atol=1e-6)
    assert r["hvp_error"] < 1e-9


def test_01_runs_as_a_script(tmp_path):
    proc = subprocess.run([sys.executable, str(example("01")), str(tmp_path)], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert "Reverse adjoint trace" in proc.stdout


def test_07_jacobians_auto_and_sparse(tmp_path):
    r = run(example("07"), tmp_path)
    assert r["tall"]["mode"] == "forward" and r["wide"]["mode"] == "reverse"
    assert r["sparse"]["colours"] == 3
    n = r["sparse"]["shape"][0]
    assert r["sparse"]["nnz"] == 3 * n - 4


def test_08_dask_cluster(tmp_path):
    pytest.importorskip("distributed")
    r = run(example("08"), tmp_path)
    assert r["same"] and r["workers"] == 2

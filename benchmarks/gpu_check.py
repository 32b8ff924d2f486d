"""dualad on a real GPU: versions, correctness, speed against CuPy and JAX, then tests/cuda.

Run on a machine with an NVIDIA GPU, CuPy, numba-cuda and (optionally) JAX with CUDA, from the
repository root::

    python -m benchmarks.gpu_check --out gpu-results

Each section runs in a process of its own with its own time limit and writes its results to
``OUT/<section>.txt`` (and JSON where there are figures) as soon as it finishes, so a run cut
short still reports what it got.  In order:

1. ``versions``: the device, driver and library versions.
2. ``jax``: JAX in float64 in its own process (``XLA_PYTHON_CLIENT_PREALLOCATE=false``, else it
   takes 75% of the GPU's memory): reference results at n = 1e6 and timings of
   ``jax.jit(jax.grad(W2))`` at n = 1e8 and of the W6 Rosenbrock HVP at n = 1e7.
3. ``correct``: dualad on CuPy arrays at n = 1e6 against dualad on the CPU and against JAX —
   the fused forward chain with 1 and 8 lanes, the W2 gradient, the W6 HVP.
4. ``timings``: CuPy's device-to-device copy bandwidth; the fused forward kernels of an
   elementwise chain at n = 1e8 with 1 and 8 lanes as effective bandwidth (bytes each kernel
   must read and write / time); the W2 gradient at n = 1e8 and the W6 HVP at n = 1e7 against
   JAX.  Every timed result is first checked.
5. ``tests``: ``tests/cuda`` against real CuPy (no simulator); cold kernel compiles take time.
6. ``profile``: W2 and W6 at full size and at n = 1000 (where the time is launch and Python
   overhead), next to CuPy running the primal alone.

Then ``summary.txt`` holds the targets and whether each was met.  Only dualad's public API is
used.  This script is not part of the test suite (CI has no GPU).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

_STARTED = time.monotonic()
SECTIONS = ("versions", "jax", "correct", "timings", "tests", "profile")
LIMITS = {"versions": 60, "jax": 180, "correct": 240, "timings": 300, "tests": 480, "profile": 120}


# -- helpers used inside the section processes ---------------------------------------------------
def _timeit(fn, sync, repeat: int = 7) -> float:
    """Median seconds of ``fn()`` (after one warm-up call), synchronising the device."""
    fn()
    sync()
    times = []
    for _ in range(repeat):
        sync()
        t = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _w2(x):
    import numpy as np

    return np.sum(np.sin(x) * np.exp(-x * x) + np.log1p(x * x))


def _chain(d):
    """The elementwise chain timed for bandwidth: three unary rules, one fused kernel each."""
    import numpy as np

    return np.tanh(np.exp(np.sin(d)))


def _rel(a, b) -> float:
    import numpy as np

    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(b))), 1e-300))


# -- sections ------------------------------------------------------------------------------------
def section_versions(out: Path) -> dict:
    import importlib.metadata as md
    import platform

    info = {"python": platform.python_version(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    try:
        info["nvidia-smi"] = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=30,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError) as exc:  # no nvidia-smi: reported, not fatal
        info["nvidia-smi"] = f"unavailable: {exc}"
    for dist in ("numpy", "numba", "numba-cuda", "cupy-cuda13x", "cupy-cuda12x", "cupy", "jax", "jaxlib", "scipy", "dualad"):
        try:
            info[dist] = md.version(dist)
        except md.PackageNotFoundError:
            pass
    import cupy

    props = cupy.cuda.runtime.getDeviceProperties(0)
    info["device"] = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
    info["device_memory_GiB"] = round(props["totalGlobalMem"] / 2**30, 1)
    info["cupy_cuda_runtime"] = cupy.cuda.runtime.runtimeGetVersion()
    import dualad

    info["dualad_path"] = str(Path(dualad.__file__).parent)
    return info


def section_jax(out: Path, n_small: int, n: int, n6: int) -> dict:
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    import numpy as np

    res = {"devices": [str(d) for d in jax.devices()]}
    grad_w2 = jax.jit(jax.grad(lambda x: jnp.sum(jnp.sin(x) * jnp.exp(-x * x) + jnp.log1p(x * x))))

    def rosen(x):
        head = x[:-1]
        return jnp.sum(100.0 * (x[1:] - head**2) ** 2 + (1.0 - head) ** 2)

    hvp = jax.jit(lambda x, v: jax.jvp(jax.grad(rosen), (x,), (v,))[1])
    xs, vs = _inputs(n_small, np), _direction(n_small, np)
    np.save(out / "jax_w2_grad_small.npy", np.asarray(grad_w2(jnp.asarray(xs))))
    np.save(out / "jax_w6_hvp_small.npy", np.asarray(hvp(jnp.asarray(xs), jnp.asarray(vs))))

    x = jnp.asarray(_inputs(n, np))
    res["w2_grad_s"] = _timeit(lambda: grad_w2(x).block_until_ready(), lambda: None)
    x = None  # free the device memory before the next inputs
    x6, v6 = jnp.asarray(_inputs(n6, np)), jnp.asarray(_direction(n6, np))
    res["w6_hvp_s"] = _timeit(lambda: hvp(x6, v6).block_until_ready(), lambda: None)
    return res


def _inputs(n: int, xp):
    import numpy as np

    x = np.random.default_rng(0).uniform(-2.0, 2.0, n)
    return xp.asarray(x)


def _direction(n: int, xp):
    import numpy as np

    return xp.asarray(np.random.default_rng(1).standard_normal(n))


def _rosen(x):
    import numpy as np

    head = x[:-1]
    return np.sum(100.0 * (x[1:] - head**2) ** 2 + (1.0 - head) ** 2)


def section_correct(out: Path, n_small: int) -> dict:
    import cupy as cp
    import numpy as np

    import dualad as ad

    res = {}
    x_h, v_h = _inputs(n_small, np), _direction(n_small, np)
    x_d, v_d = cp.asarray(x_h), cp.asarray(v_h)
    for k in (1, 8):
        t_h = np.random.default_rng(2).standard_normal((k, n_small))
        y_d = _chain(ad.Dual(x_d, cp.asarray(t_h)))
        y_h = _chain(ad.Dual(x_h, t_h))
        assert isinstance(y_d.primal, cp.ndarray), type(y_d.primal)
        res[f"chain_{k}_lanes_rel_err_vs_cpu"] = max(_rel(cp.asnumpy(y_d.primal), y_h.primal), _rel(cp.asnumpy(y_d.tangent), y_h.tangent))
    g_d = ad.grad(_w2)(x_d)
    assert isinstance(g_d, cp.ndarray), type(g_d)
    g_h = ad.grad(_w2)(x_h)
    res["w2_grad_rel_err_vs_cpu"] = _rel(cp.asnumpy(g_d), g_h)
    h_d = ad.hvp(_rosen, x_d, v_d)
    h_h = ad.hvp(_rosen, x_h, v_h)
    res["w6_hvp_rel_err_vs_cpu"] = _rel(cp.asnumpy(h_d), h_h)
    if (out / "jax_w2_grad_small.npy").exists():
        res["w2_grad_rel_err_vs_jax"] = _rel(cp.asnumpy(g_d), np.load(out / "jax_w2_grad_small.npy"))
        res["w6_hvp_rel_err_vs_jax"] = _rel(cp.asnumpy(h_d), np.load(out / "jax_w6_hvp_small.npy"))
    res["ok"] = all(v < 1e-9 for key, v in res.items() if key.endswith(("cpu", "jax")))
    return res


def section_timings(out: Path, n: int, n6: int) -> dict:
    import cupy as cp

    import dualad as ad

    def sync():
        cp.cuda.Device().synchronize()

    res = {"n": n, "n6": n6}
    x = _inputs(n, cp)
    dst = cp.empty_like(x)
    t_copy = _timeit(lambda: cp.copyto(dst, x), sync)
    res["copy_GBps"] = 2 * 8 * n / t_copy / 1e9
    dst = None
    for k in (1, 8):
        t = cp.asarray(cp.random.default_rng(3).standard_normal((k, n)))
        d = ad.Dual(x, t)
        small = ad.Dual(x[:1000], t[:, :1000])
        ref = _chain(ad.Dual(cp.asnumpy(small.primal), cp.asnumpy(small.tangent)))
        chk = _chain(small)
        assert _rel(cp.asnumpy(chk.tangent), ref.tangent) < 1e-12
        seconds = _timeit(lambda d=d: _chain(d), sync, repeat=5)
        ops = 3  # sin, exp, tanh: each reads x and k lanes, writes y and k lanes
        res[f"chain_{k}_lanes_s"] = seconds
        res[f"chain_{k}_lanes_GBps"] = ops * 8 * n * (2 + 2 * k) / seconds / 1e9
        res[f"chain_{k}_lanes_fraction_of_copy"] = res[f"chain_{k}_lanes_GBps"] / res["copy_GBps"]
        del t, d
        cp.get_default_memory_pool().free_all_blocks()
    g = ad.grad(_w2)
    res["w2_grad_s"] = _timeit(lambda: g(x), sync, repeat=5)
    x = None
    cp.get_default_memory_pool().free_all_blocks()
    x6, v6 = _inputs(n6, cp), _direction(n6, cp)
    res["w6_hvp_s"] = _timeit(lambda: ad.hvp(_rosen, x6, v6), sync, repeat=5)
    jax_file = out / "jax.json"
    if jax_file.exists():
        jx = json.loads(jax_file.read_text())
        if "w2_grad_s" in jx:
            res["w2_vs_jax"] = res["w2_grad_s"] / jx["w2_grad_s"]
        if "w6_hvp_s" in jx:
            res["w6_vs_jax"] = res["w6_hvp_s"] / jx["w6_hvp_s"]
    return res


def section_profile(out: Path, n: int, n6: int) -> dict:
    """Where the GPU time goes: the same call at the full size and at a tiny one (whose time is
    launch and Python overhead), against CuPy running the primal alone."""
    import cupy as cp

    import dualad as ad

    def sync():
        cp.cuda.Device().synchronize()

    res = {}
    for label, size in (("n", n), ("tiny", 1000)):
        x = _inputs(size, cp)
        res[f"w2_primal_cupy_{label}_s"] = _timeit(lambda x=x: _w2(x), sync)
        res[f"w2_grad_{label}_s"] = _timeit(lambda x=x: ad.grad(_w2)(x), sync)
        x = None
        cp.get_default_memory_pool().free_all_blocks()
    for label, size in (("n6", n6), ("tiny", 1000)):
        x, v = _inputs(size, cp), _direction(size, cp)
        res[f"w6_primal_cupy_{label}_s"] = _timeit(lambda x=x: _rosen(x), sync)
        res[f"w6_hvp_{label}_s"] = _timeit(lambda x=x, v=v: ad.hvp(_rosen, x, v), sync)
        x = v = None
        cp.get_default_memory_pool().free_all_blocks()
    return res


# -- the driver ----------------------------------------------------------------------------------
def _child(args) -> int:
    out = Path(args.out)
    fn = {
        "versions": lambda: section_versions(out),
        "jax": lambda: section_jax(out, args.n_small, args.n, args.n6),
        "correct": lambda: section_correct(out, args.n_small),
        "timings": lambda: section_timings(out, args.n, args.n6),
        "profile": lambda: section_profile(out, args.n, args.n6),
    }[args.section]
    result = fn()
    (out / f"{args.section}.json").write_text(json.dumps(result, indent=1, default=str))
    print(json.dumps(result, indent=1, default=str), flush=True)
    return 0


def _run_section(name: str, args, out: Path) -> str:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env.pop("NUMBA_ENABLE_CUDASIM", None)
    if name == "jax":
        env["XLA_PYTHON_CLIENT_PREALLOCATE"] = "false"
    if name == "tests":
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rfEs", "tests/cuda"]
        if importlib.util.find_spec("pytest_timeout") is not None:
            cmd += ["--timeout", str(args.test_timeout)]  # one hung test fails alone, the rest still report
        if args.test_workers > 1 and importlib.util.find_spec("xdist") is not None:
            cmd += ["-n", str(args.test_workers)]  # kernel compiles are CPU work: spread them
    else:
        cmd = [sys.executable, "-m", "benchmarks.gpu_check", "--child", name, "--out", str(out),
               "--n-small", str(args.n_small), "--n", str(args.n), "--n6", str(args.n6)]
    limit = getattr(args, f"limit_{name}")
    if args.deadline is not None:  # a section never outlives the whole run's budget
        limit = max(5, min(limit, int(args.deadline - (time.monotonic() - _STARTED) - 10)))
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=limit)
        text = proc.stdout + proc.stderr
        status = f"exit {proc.returncode}"
    except subprocess.TimeoutExpired as exc:
        text = (exc.stdout or b"").decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        text += (exc.stderr or b"").decode(errors="replace") if isinstance(exc.stderr, bytes) else (exc.stderr or "")
        status = f"timed out after {limit} s"
    took = time.perf_counter() - start
    (out / f"{name}.txt").write_text(f"# {name}: {status}, {took:.0f} s\n{text}")
    print(f"== {name}: {status}, {took:.0f} s", flush=True)
    print(text[-4000:], flush=True)
    return status


def summarise(out: Path) -> str:
    """The targets of the GPU check and whether the files in ``out`` meet them."""

    def load(name):
        p = out / f"{name}.json"
        return json.loads(p.read_text()) if p.exists() else {}

    v, c, t = load("versions"), load("correct"), load("timings")
    lines = [f"dualad GPU check, {v.get('date', '?')}, {v.get('device', '?')} ({v.get('nvidia-smi', '')})"]
    lines.append("versions: " + ", ".join(f"{k} {v[k]}" for k in ("numpy", "numba", "numba-cuda", "cupy-cuda13x", "jax") if k in v))
    errors = json.dumps({k: f"{x:.1e}" for k, x in c.items() if k != "ok"})
    lines.append(f"correctness at n=1e6: {'ok' if c.get('ok') else 'NOT ok / missing'} {errors}")
    if "copy_GBps" in t:
        lines.append(f"CuPy device-to-device copy: {t['copy_GBps']:.0f} GB/s (read + write)")
    for k in (1, 8):
        key = f"chain_{k}_lanes_fraction_of_copy"
        if key in t:
            frac = t[key]
            lines.append(f"fused forward kernels, {k} lane(s), n=1e8: {t[f'chain_{k}_lanes_GBps']:.0f} GB/s = {frac:.0%} of copy "
                         f"(target >= 70%: {'met' if frac >= 0.7 else 'missed'})")
    if "w2_grad_s" in t:
        r = t.get("w2_vs_jax")
        verdict = f" = {r:.2f}x jax.jit (target <= 2x: {'met' if r <= 2 else 'missed'})" if r else ""
        lines.append(f"W2 gradient, n=1e8: {t['w2_grad_s'] * 1e3:.1f} ms{verdict}")
    if "w6_hvp_s" in t:
        r = t.get("w6_vs_jax")
        verdict = f" = {r:.2f}x jax.jit (target <= 3x: {'met' if r <= 3 else 'missed'})" if r else ""
        lines.append(f"W6 HVP, n=1e7: {t['w6_hvp_s'] * 1e3:.1f} ms{verdict}")
    p = load("profile")
    if p:
        lines.append("profile (full size / n=1000, ms): " + ", ".join(
            f"{key[:-2]} {p[key] * 1e3:.2f}" for key in p if key.endswith("_s")))
    tests = out / "tests.txt"
    if tests.exists():
        text = tests.read_text().splitlines()
        counts = [line for line in text if re.search(r"\d+ (passed|failed|errors?|skipped)\b.* in [\d.]+s", line)]
        status = text[0].lstrip("# ") if text else ""
        lines.append("tests/cuda on real CuPy: " + (counts[-1].strip("= ") if counts else f"no result line ({status})"))
        listed = [line for line in text if line.startswith(("FAILED ", "ERROR ", "SKIPPED "))]
        lines += ["  " + line for line in listed[:20]]
        if len(listed) > 20:
            lines.append(f"  ... {len(listed) - 20} more in tests.txt")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; see the module docstring."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gpu_check", description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, help="folder for the result files")
    parser.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    parser.add_argument("--n-small", type=int, default=1_000_000)
    parser.add_argument("--n", type=int, default=100_000_000)
    parser.add_argument("--n6", type=int, default=10_000_000)
    for name, limit in LIMITS.items():
        parser.add_argument(f"--limit-{name}", type=int, default=limit, help=f"seconds for the {name} section")
    parser.add_argument("--deadline", type=float, help="seconds for the whole run: later sections get what is left")
    parser.add_argument("--test-timeout", type=int, default=300, help="seconds per test (where pytest-timeout is installed)")
    parser.add_argument("--test-workers", type=int, default=8, help="pytest-xdist workers for tests/cuda (if installed)")
    parser.add_argument("--child", choices=SECTIONS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.child:
        args.section = args.child
        return _child(args)
    for name in args.sections:
        _run_section(name, args, out)
        (out / "summary.txt").write_text(summarise(out) + "\n")
    print("\n" + (out / "summary.txt").read_text(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

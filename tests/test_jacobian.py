"""The Jacobian engine (issue 5): mode choice, chunking under a memory limit, sparse Jacobians,
executors."""

from __future__ import annotations

import logging
import multiprocessing
import os
import sys
import time
import tracemalloc
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import numpy as np
import pytest
import scipy.sparse as sp

import dualad as ad
from dualad.transforms.costmodel import LOPSIDED
from dualad.transforms.jacobian import Decision, default_memory_limit, jacobian
from dualad.transforms.options import parse_bytes as _parse_bytes

RNG = np.random.default_rng(5)


def make_problem(n, m, seed=0):
    """``tanh(A @ x) * (B @ sin(x))``: R^n -> R^m, the benchmark function of the issue."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((m, n)) / np.sqrt(n)
    B = rng.standard_normal((m, n)) / np.sqrt(n)

    def f(x):
        return np.tanh(A @ x) * (B @ np.sin(x))

    return f, rng.standard_normal(n)


# Module level, so that process pools can pickle them by reference.
W = np.random.default_rng(1).standard_normal((30, 12))


def mixed(x):
    return np.tanh(W @ x) * np.sin(x[:1]) + np.cumsum(W[:, :3] @ x[:3] ** 2)


def tridiagonal(x):
    return x[2:] - 2.0 * np.sin(x[1:-1]) + x[:-2] ** 2


def suicidal(x, parent_pid):
    if os.getpid() != parent_pid:
        os._exit(7)  # a worker dies mid-run
    return np.sin(x) * 2.0


def fails_in_worker(x, parent_pid):
    if os.getpid() != parent_pid:
        raise ValueError("raised in a worker")
    return np.sin(x)


def heavy(x):
    y = np.sin(x) * x + np.cos(x)
    z = np.exp(-y * y) + np.tanh(y)
    return z * y + np.sin(z)


def assert_same(a, b, **kw):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), **{"rtol": 1e-10, "atol": 1e-12, **kw})


# --------------------------------------------------------------------------------------------
# Results equal jacfwd / jacrev


@pytest.mark.parametrize("mode", ["auto", "forward", "reverse"])
@pytest.mark.parametrize("shape", [(8, 60), (60, 8), (20, 20), (1, 5), (5, 1)])
def test_dense_jacobian_equals_jacfwd_and_jacrev(mode, shape):
    f, x = make_problem(*shape)
    J = jacobian(f, mode=mode)(x)
    assert J.shape == (shape[1], shape[0])
    assert_same(J, ad.jacfwd(f)(x))
    assert_same(J, ad.jacrev(f)(x))


@pytest.mark.parametrize("mode", ["auto", "forward", "reverse"])
def test_pytrees_scalars_and_dtypes(mode):
    g = lambda a, b: {"u": a["p"] * b, "v": np.sum(a["q"] ** 2)}
    a, b = {"p": np.ones(3), "q": np.arange(4.0)}, np.arange(3.0)
    J, Jf = jacobian(g, argnums=(0, 1), mode=mode)(a, b), ad.jacfwd(g, argnums=(0, 1))(a, b)
    for out in ("u", "v"):
        for key in ("p", "q"):
            assert_same(J[out][0][key], Jf[out][0][key])
        assert_same(J[out][1], Jf[out][1])
    assert_same(jacobian(np.sin, mode=mode)(0.5), np.cos(0.5))
    assert_same(jacobian(lambda x: np.sum(x**2), mode=mode)(np.arange(3.0)), [0.0, 2.0, 4.0])
    assert jacobian(lambda x: x * 2.0, mode=mode)(np.ones(3, np.float32)).dtype == np.float32
    assert jacobian(lambda x: x * 2.0, mode=mode)(np.arange(3)).dtype == np.float64
    assert jacobian(lambda x: x * 2.0, mode=mode)(np.ones(0)).shape == (0, 0)
    assert_same(jacobian(lambda x: np.ones(2), mode=mode)(np.ones(3)), np.zeros((2, 3)))


def test_nests_inside_other_transforms():
    f = lambda x: np.sin(x) * x[0]
    x = np.array([0.5, 1.0, 2.0])
    H = ad.jacfwd(ad.jacfwd(f))(x)
    for mode in ("auto", "forward", "reverse"):
        assert_same(ad.jacfwd(jacobian(f, mode=mode))(x), H)
        assert_same(ad.jacrev(jacobian(f, mode=mode))(x), H)
        assert_same(jacobian(jacobian(f, mode=mode))(x), H)


def test_chunk_size_overrides():
    f, x = make_problem(30, 7)
    jac = jacobian(f, mode="forward", chunk_size=4)
    assert_same(jac(x), ad.jacfwd(f)(x))
    assert (jac.decision.chunk, jac.decision.passes, jac.decision.lanes) == (4, 8, 30)
    jac = jacobian(f, mode="reverse", chunk_size=3)
    assert_same(jac(x), ad.jacfwd(f)(x))
    assert (jac.decision.chunk, jac.decision.passes) == (3, 3)


def test_argument_errors():
    with pytest.raises(ValueError, match="mode"):
        jacobian(np.sin, mode="sideways")
    with pytest.raises(ValueError, match="chunk_size"):
        jacobian(np.sin, chunk_size=0)
    with pytest.raises(ValueError, match="memory_limit"):
        jacobian(np.sin, memory_limit="lots")
    with pytest.raises(ValueError, match="memory_limit"):
        jacobian(np.sin, memory_limit=-5)
    with pytest.raises(ValueError, match="sparsity"):
        jacobian(np.sin, sparsity="dense")
    with pytest.raises(TypeError, match="Executor"):
        jacobian(np.sin, executor=object())
    with pytest.raises(TypeError, match="callable"):
        jacobian(3.0)
    assert _parse_bytes("2GB", "t") == 2_000_000_000
    assert _parse_bytes("512MiB", "t") == 512 << 20
    assert _parse_bytes(1e6, "t") == 1_000_000
    assert default_memory_limit() > 1 << 20


# --------------------------------------------------------------------------------------------
# Mode choice, asserted through the recorded decision


@pytest.mark.parametrize(
    "n, m",
    [(2, 400), (8, 2000), (400, 2), (2000, 8), (16, 16), (60, 20), (20, 60), (120, 120), (1, 50), (50, 1)],
)
def test_auto_decision_follows_the_cost_model(n, m):
    f, x = make_problem(n, m, seed=n * 7 + m)
    jac = jacobian(f)
    d = jac.decide(x)
    assert isinstance(d, Decision) and d.requested == "auto" and (d.n, d.m) == (n, m)
    if n == 1:
        assert d.mode == "forward"  # one lane: nothing to measure
    elif max(n, m) >= LOPSIDED * min(n, m):
        # so lopsided that no probe could change the answer: nothing is timed (or compiled) for
        # the mode that will not run
        assert d.mode == ("forward" if n < m else "reverse") and "without probing" in d.reason
        assert d.probe_s == 0 and d.estimate_forward_s is None
    else:
        # the choice is the cheaper of the two measured estimates ...
        assert d.estimate_forward_s > 0 and d.estimate_reverse_s > 0
        assert d.mode == ("forward" if d.estimate_forward_s <= d.estimate_reverse_s else "reverse")
        assert d.forward_lane_s >= 0 and d.reverse_lane_s >= 0 and d.reverse_record_s > 0
        assert d.tape_length >= 5 and d.probe_s > 0
    # ... and on the tall and wide shapes (the modes differ ~100x there), it is the mode
    # with fewer lanes.  Elsewhere small problems are dominated by per-pass overheads, and
    # either mode may win by a little.
    if max(n, m) >= 2000 and min(n, m) <= 8:
        assert d.mode == ("forward" if n < m else "reverse")
    # measured once: the next call reuses the decision without probing
    J = jac(x)
    assert jac.decision.mode == d.mode and jac.decision.probe_s == d.probe_s
    assert_same(J, ad.jacfwd(f)(x))
    again = jacobian(f)  # a new jacobian of the same f shares the cache
    assert again.decide(x).mode == d.mode and again.decision.probe_s == d.probe_s
    assert "reason" in str(d) and d.mode in str(d)


def test_decision_is_per_signature_and_can_be_cleared():
    f = lambda x: np.sin(x) * np.sum(x)
    jac = jacobian(f)
    d1 = jac.decide(np.ones(3))
    d2 = jac.decide(np.ones(300))
    assert (d1.n, d2.n) == (3, 300)
    jac.clear_cache()
    assert jac.decide(np.ones(3)).probe_s > 0


def test_python_number_arguments_do_not_remeasure():
    # f(x, t) in a time loop: one decision for every t
    f = lambda x, t: np.sin(x * t) * x[0]
    jac = jacobian(f)
    x = np.linspace(0.1, 1.0, 20)
    probe = jac.decide(x, 0.5).probe_s
    for t in (0.1, 0.2, 0.3):
        assert_same(jac(x, t), ad.jacfwd(f)(x, t))
        assert jac.decision.probe_s == probe


@pytest.mark.parametrize("mode", ["auto", "forward", "reverse"])
@pytest.mark.parametrize("sparsity", [None, "auto"])
def test_output_shape_depending_on_a_number_argument(mode, sparsity):
    g = lambda x, k: x[:k] * 2.0
    jac = jacobian(g, mode=mode, sparsity=sparsity)
    for k in (3, 4, 2):
        J = jac(np.ones(5), k)
        J = J.toarray() if sparsity else J
        assert_same(J, 2.0 * np.eye(5)[:k])


def _best(fn, x, reps=7):
    fn(x)
    best = np.inf
    for _ in range(reps):
        t0 = time.perf_counter()
        fn(x)
        best = min(best, time.perf_counter() - t0)
    return best


@pytest.mark.parametrize("n, m", [(8, 2000), (2000, 8)])
def test_auto_is_as_fast_as_the_better_mode_on_tall_and_wide(n, m):
    f, x = make_problem(n, m)
    auto, fwd, rev = jacobian(f), jacobian(f, mode="forward"), jacobian(f, mode="reverse")
    t_auto, t_fwd, t_rev = _best(auto, x), _best(fwd, x), _best(rev, x)
    assert auto.decision.mode == ("forward" if n < m else "reverse")
    assert t_auto <= 3.0 * min(t_fwd, t_rev)  # generous: a loaded CI machine; the modes differ ~100x


# --------------------------------------------------------------------------------------------
# Memory


@pytest.mark.parametrize("mode", ["forward", "reverse", "auto"])
def test_chunks_keep_peak_memory_under_the_limit(mode):
    # n * n < 2**16: the kernels stay serial (Numba's threaded kernels crawl under tracemalloc)
    n = 250
    x = np.linspace(-1.0, 1.0, n)
    limit = 1 << 20
    # the dense lane block (all n lanes at once) needs far more than the limit
    tracemalloc.start()
    J_full = ad.jacfwd(heavy)(x) if mode != "reverse" else ad.jacrev(heavy)(x)
    full_peak = tracemalloc.get_traced_memory()[1] - J_full.nbytes
    tracemalloc.stop()
    assert full_peak > 2 * limit
    # heavy is elementwise: sparsity=False keeps auto from colouring it into one lane
    jac = jacobian(heavy, mode=mode, memory_limit=limit, sparsity=False)
    jac(x)  # compile the kernels of these chunk shapes outside the measurement
    jac.clear_cache()
    tracemalloc.start()
    J = jac(x)  # a first call: analysis, (probes,) and chunked passes
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    d = jac.decision
    assert d.passes > 1 and d.chunk < n
    lane_bytes = d.forward_lane_bytes if d.mode == "forward" else d.reverse_lane_bytes
    assert n * lane_bytes > limit and d.base_bytes + d.chunk * lane_bytes <= limit
    assert peak - J.nbytes <= limit, f"peak {peak - J.nbytes} bytes beyond the Jacobian, limit {limit}"
    assert_same(J, J_full)


def test_memory_limit_below_one_lane_warns_and_uses_one_lane():
    with pytest.warns(ResourceWarning, match="single lane"):
        J = jacobian(heavy, mode="forward", memory_limit=1000)(np.ones(5))
    assert_same(J, ad.jacfwd(heavy)(np.ones(5)))


# --------------------------------------------------------------------------------------------
# Sparse Jacobians


def banded(x, b=1):
    out = x**2
    for k in range(1, b + 1):
        out = out + np.concatenate([x[k:], np.zeros(k)]) * np.concatenate([np.zeros(k), x[:-k]])
    return np.sin(out)


def block_diagonal(x):
    blocks = x.reshape(-1, 4)
    return (np.tanh(blocks @ np.arange(1.0, 17.0).reshape(4, 4)) * blocks).ravel()


def arrowhead(x):
    return np.concatenate([np.sum(x * np.cos(x))[None], x[1:] * x[0] + x[1:] ** 2])


def dense_last_row(x):
    return np.concatenate([np.sin(x), np.sum(x**2)[None]])


ROWS = np.random.default_rng(3).integers(0, 40, 120)
COLS = np.random.default_rng(4).integers(0, 40, 120)


def random_sparse(x):
    return np.exp(x[ROWS] * 0.1) * np.sin(x[COLS]) + x[(ROWS + 1) % 40]


SPARSE_CASES = {
    "tridiagonal": (tridiagonal, 30, 3),
    "pentadiagonal": (lambda x: banded(x, 2), 30, 5),
    "block diagonal": (block_diagonal, 32, 4),
    "arrowhead": (arrowhead, 25, None),
    "dense last row": (dense_last_row, 25, None),
    "random sparse": (random_sparse, 40, None),
}


@pytest.mark.parametrize("mode", ["auto", "forward", "reverse"])
@pytest.mark.parametrize("name", sorted(SPARSE_CASES))
def test_sparse_jacobian_equals_dense(name, mode):
    f, n, colours = SPARSE_CASES[name]
    x = np.random.default_rng(n).uniform(0.5, 1.5, n)
    jac = jacobian(f, mode=mode, sparsity="auto")
    J = jac(x)
    assert sp.issparse(J) and J.format == "csr"
    dense = np.asarray(ad.jacfwd(f)(x))
    assert_same(J.toarray(), dense)
    d = jac.decision
    assert d.sparse and d.nnz == J.nnz and d.nnz >= np.count_nonzero(dense)
    if colours is not None and mode != "reverse":
        assert d.colors_forward == colours
    assert d.lanes == (d.colors_forward if d.mode == "forward" else d.colors_reverse)
    # a given pattern gives the same matrix
    J2 = jacobian(f, mode=mode, sparsity=sp.csr_matrix(dense != 0))(x)
    assert_same(J2.toarray(), dense)


def test_sparse_tridiagonal_uses_three_colours_and_few_lanes():
    jac = jacobian(tridiagonal, sparsity="auto")
    J = jac(np.linspace(0.0, 1.0, 500))
    assert jac.decision.colors_forward == 3 and jac.decision.colors_reverse == 3
    assert jac.decision.lanes == 3
    assert J.shape == (498, 500) and J.nnz == 3 * 498


def test_sparse_auto_picks_reverse_for_a_dense_row():
    # every column meets the dense last row: n column colours, but 2 row colours (n large
    # enough for the lanes, not the per-pass overheads, to decide)
    jac = jacobian(dense_last_row, sparsity="auto")
    jac(np.ones(1000))
    d = jac.decision
    assert d.colors_forward == 1000 and d.colors_reverse == 2
    assert d.mode == "reverse"


def test_sparse_given_pattern_must_fit():
    with pytest.raises(ValueError, match="shape"):
        jacobian(tridiagonal, sparsity=sp.eye(5, format="csr"))(np.ones(6))


def test_sparse_inside_another_transform_is_refused():
    with pytest.raises(NotImplementedError, match="sparsity"):
        ad.jacfwd(lambda x: jacobian(np.sin, sparsity="auto")(x).sum())(np.ones(3))


# --------------------------------------------------------------------------------------------
# Executors


@pytest.fixture(scope="module")
def pool():
    # spawn: forking a process that has run OpenMP (Numba) kernels is not safe
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as ex:
        yield ex


@pytest.mark.parametrize("mode", ["forward", "reverse", "auto"])
def test_process_pool_results_identical_to_serial(pool, mode):
    x = RNG.standard_normal(12)
    serial = jacobian(mixed, mode=mode, chunk_size=5)(x)
    parallel = jacobian(mixed, mode=mode, chunk_size=5, executor=pool)
    J = parallel(x)
    np.testing.assert_array_equal(J, serial)
    lanes = serial.shape[1 if parallel.decision.mode == "forward" else 0]
    assert parallel.decision.passes == -(-lanes // 5)


def test_process_pool_sparse_identical_to_serial(pool):
    x = np.linspace(0.0, 1.0, 40)
    serial = jacobian(tridiagonal, sparsity="auto", chunk_size=1)(x)
    J = jacobian(tridiagonal, sparsity="auto", chunk_size=1, executor=pool)(x)
    assert (J != serial).nnz == 0


def test_process_pool_default_chunks_split_the_work(pool):
    x = RNG.standard_normal(12)
    jac = jacobian(mixed, mode="forward", executor=pool)
    np.testing.assert_array_equal(jac(x), jacobian(mixed, mode="forward", chunk_size=jac.decision.chunk)(x))
    assert jac.decision.passes >= 2


def test_unpicklable_function_is_reported_before_running(pool):
    with pytest.raises(TypeError, match="cannot be pickled.*module level"):
        jacobian(lambda x: np.sin(x), mode="forward", executor=pool)(np.ones(4))


def test_a_dying_worker_gives_a_clear_error_and_no_matrix():
    x = np.ones(10)
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as ex:
        with pytest.raises(RuntimeError, match="worker of the executor died.*No partial Jacobian"):
            jacobian(suicidal, mode="forward", chunk_size=2, executor=ex)(x, os.getpid())


def test_thread_pool_and_progress_bar(capsys):
    pytest.importorskip("tqdm", reason="tqdm is not installed: pip install dualad[distributed]")
    x = RNG.standard_normal(12)
    with ThreadPoolExecutor(2) as ex:
        J = jacobian(lambda x: mixed(x), mode="reverse", chunk_size=4, executor=ex, progress=True)(x)
    assert_same(J, ad.jacfwd(mixed)(x))
    J = jacobian(mixed, mode="forward", chunk_size=4, progress=True)(x)
    assert_same(J, ad.jacfwd(mixed)(x))
    assert "chunk" in capsys.readouterr().err


def test_progress_without_tqdm_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)
    with pytest.raises(ImportError, match=r"pip install dualad\[distributed\]"):
        jacobian(mixed, mode="forward", progress=True)(np.ones(12))


def test_worker_exceptions_from_f_propagate(pool):
    with pytest.raises(ValueError, match="raised in a worker"):
        jacobian(fails_in_worker, mode="forward", chunk_size=2, executor=pool)(np.ones(4), os.getpid())


def test_dask_local_cluster_identical_to_serial():
    distributed = pytest.importorskip(
        "distributed", reason="dask.distributed is not installed (pip install dualad[distributed])"
    )
    x = RNG.standard_normal(12)
    serial_f = jacobian(mixed, mode="forward", chunk_size=3)(x)
    serial_r = jacobian(mixed, mode="reverse", chunk_size=8)(x)
    with distributed.LocalCluster(
        processes=True, n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None, silence_logs=logging.ERROR
    ) as cluster, distributed.Client(cluster) as client:
        ex = client.get_executor()
        np.testing.assert_array_equal(jacobian(mixed, mode="forward", chunk_size=3, executor=ex)(x), serial_f)
        np.testing.assert_array_equal(jacobian(mixed, mode="reverse", chunk_size=8, executor=ex)(x), serial_r)
        # Dask's cloudpickle sends lambdas
        J = jacobian(lambda v: mixed(v) * 2.0, mode="forward", chunk_size=4, executor=ex)(x)
        assert_same(J, 2.0 * serial_f)


def test_cost_fit_clips_what_noise_did_to_the_probes():
    """A probe slowed by load elsewhere cannot make more lanes look dearer than repeating a
    smaller pass, nor fewer lanes dearer than more (seen here: a 2-lane sweep timed at 28 ms
    beside 0.1 ms for 1 lane made auto pick 1000 forward lanes over 2 reverse ones)."""
    from dualad.transforms.costmodel import Fit as _Fit

    fit = _Fit({1: 1e-4, 2: 28e-3})
    assert fit.clipped() == ([1, 2], [1e-4, 2e-4])
    assert fit.estimate(2, 2) == 2e-4
    a, b = fit.ab()
    assert a == 0.0 and b == pytest.approx(1e-4)
    fit = _Fit({1: 5e-3, 16: 1e-3, 128: 2e-3})  # a first run that loaded kernels
    assert fit.clipped()[1] == [1e-3, 1e-3, 2e-3]

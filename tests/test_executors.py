"""Executors everywhere: every transform that runs passes of lanes (jacobian, jacfwd, jacrev,
hessian, sparse_hessian, batched hvp) takes ``executor=`` — any concurrent.futures.Executor, or a
Dask ``distributed.Client`` itself — and ``progress=``, with results identical to serial ones."""

import logging
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import dualad as ad

RNG = np.random.default_rng(7)


def vec(x):
    return np.sin(x) * np.cumsum(x) + x[::-1] ** 2


def scalar(x):
    return np.sum(np.sin(x) * x**3) + np.sum(x[1:] * x[:-1])


def _calls(ex):
    """Every transform with an executor, each paired with its serial result's function."""
    x = np.linspace(0.1, 1.2, 9)
    V = RNG.standard_normal((5, 9))
    return [
        ("jacobian", lambda: ad.jacobian(vec, mode="forward", chunk_size=2, executor=ex, progress=True)(x),
         lambda: ad.jacobian(vec, mode="forward")(x)),
        ("jacfwd", lambda: ad.jacfwd(vec, chunk_size=2, executor=ex, progress=True)(x), lambda: ad.jacfwd(vec)(x)),
        ("jacrev", lambda: ad.jacrev(vec, chunk_size=4, executor=ex, progress=True)(x), lambda: ad.jacrev(vec)(x)),
        ("hessian", lambda: ad.hessian(scalar, chunk_size=3, executor=ex, progress=True)(x), lambda: ad.hessian(scalar)(x)),
        ("sparse_hessian", lambda: ad.sparse_hessian(scalar, executor=ex, progress=True)(x).toarray(),
         lambda: ad.hessian(scalar)(x)),
        ("hvp", lambda: ad.hvp(scalar, x, V, chunk_size=2, executor=ex, progress=True), lambda: ad.hvp(scalar, x, V)),
    ]


def test_thread_pool_everywhere():
    with ThreadPoolExecutor(2) as ex:
        for name, run, serial in _calls(ex):
            np.testing.assert_allclose(run(), serial(), rtol=1e-13, atol=1e-13, err_msg=name)


def test_chunked_without_executor_equals_one_pass():
    x = np.linspace(0.1, 1.2, 9)
    V = RNG.standard_normal((7, 9))
    np.testing.assert_allclose(ad.hvp(scalar, x, V, chunk_size=3), ad.hvp(scalar, x, V), rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(ad.hvp(scalar, x, V, chunk_size=3), V @ ad.hessian(scalar)(x), rtol=1e-12, atol=1e-12)


def test_bad_executor_is_named():
    with pytest.raises(TypeError, match="jacfwd: executor must be"):
        ad.jacfwd(vec, executor=object())
    with pytest.raises(TypeError, match="hvp: executor must be"):
        ad.hvp(scalar, np.ones(3), np.ones((2, 3)), executor=42)


def test_dask_client_itself_on_a_local_cluster():
    """The Client object itself, not ``client.get_executor()`` (which used to be required:
    the Client gave "'Future' object has no attribute '_condition'")."""
    distributed = pytest.importorskip("distributed", reason="dask.distributed is not installed (pip install dualad[distributed])")
    with distributed.LocalCluster(
        processes=True, n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None, silence_logs=logging.ERROR
    ) as cluster, distributed.Client(cluster) as client:
        for name, run, serial in _calls(client):
            np.testing.assert_allclose(run(), serial(), rtol=1e-13, atol=1e-13, err_msg=name)

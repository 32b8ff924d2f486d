"""A large Jacobian in chunks on a Dask cluster.

``executor=`` on ``jacobian``, ``jacfwd``, ``jacrev``, ``hessian``, ``sparse_hessian`` and
batched ``hvp`` takes a Dask ``distributed.Client`` (or any ``concurrent.futures.Executor``):
each chunk of lanes is one task, sent to a worker with ``f`` and its arguments (Dask pickles
them with cloudpickle, so lambdas and closures travel), and the blocks come back to be
assembled.  Here a ``LocalCluster`` on this machine stands in for a real one.

On a real cluster, start a scheduler and workers (``dask scheduler`` on one machine,
``dask worker tcp://SCHEDULER:8786`` on each of the others, every one with dualad installed)
and replace the ``LocalCluster`` below by ``Client("tcp://SCHEDULER:8786")``: nothing else
changes.  Choose ``chunk_size`` so that a chunk's work (its lanes times the cost of one pass)
outweighs sending ``f``'s arguments to a worker.

Run: ``python examples/08_dask_cluster.py``
"""

from __future__ import annotations

import logging
import time

import numpy as np

import dualad as ad

REQUIRES = ("distributed",)


def residual(u):
    """A nonlinear 1-D diffusion residual with a dense coupling term: every output depends on
    every input, so the Jacobian is dense."""
    lap = np.concatenate([u[:1], u[:-2] - 2.0 * u[1:-1] + u[2:], u[-1:]])
    return lap + 0.1 * np.tanh(u) * np.mean(u**2)


def main(small: bool = False) -> dict:
    from distributed import Client, LocalCluster

    n = 200 if small else 2000
    chunk = 50 if small else 250
    u = np.linspace(0.0, 1.0, n) ** 2
    t = time.perf_counter()
    serial = ad.jacfwd(residual)(u)
    t_serial = time.perf_counter() - t
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
        ad.jacfwd(residual, chunk_size=chunk, executor=client)(u)  # workers import dualad once
        t = time.perf_counter()
        J = ad.jacfwd(residual, chunk_size=chunk, executor=client)(u)
        t_cluster = time.perf_counter() - t
        workers = len(client.scheduler_info()["workers"])
    same = bool(np.array_equal(J, serial))
    print(f"Jacobian {J.shape} of a dense residual, {n // chunk} chunks of {chunk} forward lanes")
    print(f"  serial, this process:       {t_serial * 1e3:8.1f} ms")
    print(f"  on {workers} Dask workers:         {t_cluster * 1e3:8.1f} ms (the local cluster shares this machine's cores)")
    print(f"  identical to the serial result: {same}")
    return {"J": J, "serial": serial, "same": same, "workers": workers}


if __name__ == "__main__":
    main()

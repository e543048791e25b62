"""Executors for the cases of a study: serial, a process pool, a Dask cluster.  Each
caps the numba threads of its workers so the cores are not oversubscribed."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any


class SerialExecutor(Executor):
    """Runs each submitted call at once, in this process."""

    def submit(self, fn: Callable, /, *args, **kwargs) -> Future:
        """Run ``fn(*args, **kwargs)`` now, in this process; return its finished future."""
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as error:  # delivered through the future, as a pool would
            future.set_exception(error)
        return future


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _limit_threads(threads: int) -> None:
    """Worker initializer: cap numba/BLAS/OpenMP threads at ``threads``.

    Unpickling this initializer imports pdediff, and so numba, in the worker before it
    runs: numba's thread count must then be capped with ``numba.set_num_threads``
    and its environment variable left as numba read it (numba re-reads its
    environment at every compilation and refuses a changed ``NUMBA_NUM_THREADS`` once
    its threads are running)."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)
    os.environ.setdefault("OMP_WAIT_POLICY", "passive")
    if "numba" in sys.modules:
        import numba

        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    else:  # pragma: no cover - numba is imported with pdediff
        os.environ["NUMBA_NUM_THREADS"] = str(threads)


def process_executor(jobs: int) -> Executor:
    """A process pool of ``jobs`` fresh (spawned) workers, each with
    ``max(1, cores // jobs)`` numba threads so the cores are not oversubscribed."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    from .._validate import positive_int

    jobs = positive_int(jobs, "jobs")
    threads = max(1, _cores() // jobs)
    return ProcessPoolExecutor(jobs, mp_context=get_context("spawn"),
                               initializer=_limit_threads, initargs=(threads,))


def _worker_threads(nthreads: int) -> int:
    import numba

    threads = max(1, min(numba.config.NUMBA_NUM_THREADS, _cores() // max(1, nthreads)))
    numba.set_num_threads(threads)
    return threads


def dask_executor(address: Any):
    """A ``dask.distributed.Client`` for a scheduler ``address`` (or a ``LocalCluster``),
    usable as an executor; each worker's numba threads are set to its host's cores
    divided by the threads of the workers on that host."""
    try:
        from distributed import Client
    except ImportError as error:  # pragma: no cover - optional extra
        raise ImportError("--scheduler needs dask.distributed: pip install pdediff[dask]") \
            from error
    client = Client(address)
    workers = client.scheduler_info()["workers"]
    per_host: dict[str, int] = {}
    for info in workers.values():
        per_host[info["host"]] = per_host.get(info["host"], 0) + int(info["nthreads"])
    for address_, info in workers.items():
        client.run(_worker_threads, per_host[info["host"]], workers=[address_])
    return client

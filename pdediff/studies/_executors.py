"""Executors for the cases of a study: serial, a process pool, a Dask cluster.  Each
caps the numba, BLAS/OpenMP and XLA threads of its workers so the cores are not
oversubscribed."""

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


#: POT imports torch and JAX at its own import (seconds per process) only to offer
#: backends pdediff never uses: it passes numpy arrays.  A process that pdediff owns
#: (the command line, a pool worker) switches those backends off before POT is imported.
POT_QUIET_BACKENDS = {f"POT_BACKEND_DISABLE_{lib}": "1"
                      for lib in ("PYTORCH", "JAX", "TENSORFLOW", "CUPY")}


def quiet_pot_backends() -> None:
    """Set :data:`POT_QUIET_BACKENDS` unless already set (no effect once POT is loaded)."""
    for var, value in POT_QUIET_BACKENDS.items():
        os.environ.setdefault(var, value)


def resolve_jobs(jobs: Any, name: str = "jobs") -> int:
    """``jobs`` as a worker count: a positive int, or ``"auto"`` / None for the usable
    cores of this process (``os.sched_getaffinity``)."""
    from .._validate import positive_int

    if jobs is None or (isinstance(jobs, str) and jobs.strip().lower() == "auto"):
        return _cores()
    if isinstance(jobs, str):
        try:
            jobs = int(jobs)
        except ValueError:
            raise ValueError(f"{name}: expected a positive integer or 'auto', "
                             f"got {jobs!r}") from None
    return positive_int(jobs, name)


def _xla_flags(threads: int) -> str:
    """``XLA_FLAGS`` with XLA's multi-threaded Eigen CPU pool (default: every core)
    switched off when a worker gets one thread.  XLA aborts the process on a flag it
    does not know, so only this long-standing one is added."""
    flags = os.environ.get("XLA_FLAGS", "")
    if threads > 1 or "xla_cpu_multi_thread_eigen" in flags:
        return flags
    return f"{flags} --xla_cpu_multi_thread_eigen=false".strip()


def _limit_threads(threads: int) -> None:
    """Worker initializer: cap numba/BLAS/OpenMP/XLA threads at ``threads``.

    XLA reads ``XLA_FLAGS`` when JAX creates its CPU client, at the first JAX
    computation; pdediff imports JAX only in the neural score models, never at
    ``import pdediff``, so the flags set here (before any case runs) take effect.

    Unpickling this initializer imports pdediff, and so numba, in the worker before it
    runs: numba's thread count must then be capped with ``numba.set_num_threads``
    and its environment variable left as numba read it (numba re-reads its
    environment at every compilation and refuses a changed ``NUMBA_NUM_THREADS`` once
    its threads are running).  That import also sets the OpenMP wait defaults
    (``pdediff._openmp``), which the workers inherit through the environment."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)
    if "jax" not in sys.modules:
        os.environ["XLA_FLAGS"] = _xla_flags(threads)
    quiet_pot_backends()
    if "numba" in sys.modules:
        import numba

        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    else:  # pragma: no cover - numba is imported with pdediff
        os.environ["NUMBA_NUM_THREADS"] = str(threads)


def process_executor(jobs: int | str = "auto") -> Executor:
    """A process pool of ``jobs`` fresh (spawned) workers (``"auto"``: the usable cores),
    each with ``max(1, cores // jobs)`` numba, BLAS and XLA threads so the cores are not
    oversubscribed."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    jobs = resolve_jobs(jobs)
    threads = max(1, _cores() // jobs)
    return ProcessPoolExecutor(jobs, mp_context=get_context("spawn"),
                               initializer=_limit_threads, initargs=(threads,))


def _worker_threads(nthreads: int) -> int:
    import numba

    threads = max(1, min(numba.config.NUMBA_NUM_THREADS, _cores() // max(1, nthreads)))
    numba.set_num_threads(threads)
    if "jax" not in sys.modules:  # a worker that has not yet started XLA
        os.environ["XLA_FLAGS"] = _xla_flags(threads)
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

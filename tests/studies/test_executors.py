"""The process-pool executor of the harness: workers get their numba thread cap and can
still compile new kernels (a cold numba cache in a worker is the normal case)."""

from pdediff.studies._executors import process_executor


def _compile_fresh_kernel(seed: int) -> tuple[int, float]:
    """Compile a numba function that no cache holds (so numba re-reads its config in
    the worker), run it, and report the worker's thread count."""
    import numba
    import numpy as np

    @numba.njit
    def total(x):
        acc = 0.0
        for value in x:
            acc += value
        return acc

    return numba.get_num_threads(), float(total(np.arange(seed, dtype=float)))


def test_pool_workers_are_capped_and_can_compile():
    """Each of 2 workers runs with max(1, cores // 2) numba threads and compiles a fresh
    kernel.  The initializer used to export NUMBA_NUM_THREADS after numba had been
    imported in the worker; the first compilation then raised 'Cannot set
    NUMBA_NUM_THREADS to a different value once the threads have been launched'."""
    import os

    cores = len(os.sched_getaffinity(0))
    with process_executor(2) as pool:
        results = [pool.submit(_compile_fresh_kernel, n).result() for n in (5, 6, 7)]
    assert all(threads == max(1, cores // 2) for threads, _ in results)
    assert [total for _, total in results] == [10.0, 15.0, 21.0]

"""Seeded, chunked standard-normal streams for the particle samplers.

Particles are split into chunks of ``chunk_size`` consecutive particles; chunk ``c``
draws from its own ``numpy.random.Generator(PCG64(child_c))`` with ``child_c`` the
``c``-th child spawned from ``numpy.random.SeedSequence(seed)``.  The draws of a chunk
depend only on the seed, the chunk index and the order of the calls, never on the
number of threads filling them or computing with them, so a fixed
``(seed, chunk_size)`` gives bit-identical particles with any thread count.  Changing
``chunk_size`` changes the streams (and the particles).

The samplers pre-generate: while the kernels of step ``k`` run, a background pool
fills the buffer of step ``k + 1`` (:meth:`NormalStream.submit`).  Generator fills
release the GIL, so the draws overlap the compiled kernels.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .. import _validate


class NormalStream:
    """Standard normal draws for ``n`` particles from one Generator per chunk.

    Parameters
    ----------
    seed : int >= 0, SeedSequence or None
        Root of the chunk generators (``None``: fresh entropy, recorded in
        :attr:`entropy`).
    n : int >= 1
        Number of particles (rows of the arrays filled).
    chunk_size : int >= 1
        Particles per generator.
    workers : int >= 1
        Threads filling chunks concurrently; results do not depend on it.
    background : bool
        Keep a pool even for one worker, so that :meth:`submit` can overlap the
        draws with other work.
    """

    def __init__(
        self,
        seed: int | np.random.SeedSequence | None,
        n: int,
        chunk_size: int,
        workers: int = 1,
        background: bool = False,
    ) -> None:
        seed_seq = _validate.seed_sequence(seed, "seed")
        n = _validate.positive_int(n, "n")
        chunk_size = _validate.positive_int(chunk_size, "chunk_size")
        workers = _validate.positive_int(workers, "workers")
        self.entropy = seed_seq.entropy
        self.bounds = [(lo, min(lo + chunk_size, n)) for lo in range(0, n, chunk_size)]
        self.generators = [
            np.random.Generator(np.random.PCG64(child))
            for child in seed_seq.spawn(len(self.bounds))
        ]
        workers = min(workers, len(self.bounds))
        use_pool = workers > 1 or background
        self.pool = ThreadPoolExecutor(max_workers=workers) if use_pool else None

    def _work(self, z: np.ndarray, index: int) -> None:
        lo, hi = self.bounds[index]
        self.generators[index].standard_normal(out=z[lo:hi])

    def fill(self, z: np.ndarray) -> None:
        """Overwrite ``z`` (shape (n, ndim), C-contiguous float64) with N(0, 1) draws,
        the next ones of every chunk's stream."""
        if self.pool is None:
            for index in range(len(self.bounds)):
                self._work(z, index)
        else:
            list(self.pool.map(lambda index: self._work(z, index), range(len(self.bounds))))

    def submit(self, z: np.ndarray) -> Callable[[], None]:
        """Start filling ``z`` in the background (same draws as :meth:`fill`); returns
        a function that waits for the fill to finish and re-raises its errors.  Each
        chunk's generator is used by one task at a time and in call order, so the
        draws do not depend on the scheduling."""
        if self.pool is None:
            raise RuntimeError("NormalStream.submit needs background=True or workers > 1")
        futures = [self.pool.submit(self._work, z, i) for i in range(len(self.bounds))]

        def wait() -> None:
            for future in futures:
                future.result()

        return wait

    def close(self) -> None:
        """Shut the pool down (waiting for pending fills)."""
        if self.pool is not None:
            self.pool.shutdown(wait=True)

    def __enter__(self) -> NormalStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

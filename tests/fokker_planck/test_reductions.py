"""The deterministic reductions of the fused stage (``pdediff.fokker_planck._reductions``)."""

import math

import numpy as np
import pytest
from numba import njit

from pdediff.fokker_planck._reductions import _bits, _tally, stage_blocks, thread_chunk


@njit(cache=True)
def _row_tally(values):
    total = 0.0
    smallest = np.iinfo(np.int64).max
    for k in range(values.size):
        total, smallest = _tally(total, smallest, values[k])
    return total, smallest


@njit(cache=True)
def _bits_of(values, out):
    for k in range(values.size):
        out[k] = _bits(values[k])


def test_bits_are_the_ieee_pattern():
    values = np.array([0.0, -0.0, 1.0, -2.5, np.inf, -np.inf, np.nan, 5e-324, 1.7e308])
    out = np.empty(values.size, dtype=np.int64)
    _bits_of(values, out)
    assert np.array_equal(out, values.view(np.int64))


@pytest.mark.parametrize("n", [1, 7, 8, 17, 513])
def test_tally_sums_and_orders_nonnegative_values_exactly(n):
    """The sum is a float sum of the values in some order (within the worst-case
    bound); the minimum bit pattern is the pattern of the minimum value."""
    values = np.random.default_rng(n).random(n) ** 4
    total, smallest = _row_tally(values)
    bound = max(n - 1, 1) * np.finfo(float).eps * math.fsum(values)
    assert abs(total - math.fsum(values)) <= bound
    assert smallest == values.min().view(np.int64)


def test_tally_flags_negative_values_and_keeps_nan():
    values = np.array([0.5, 1e-300, 0.25])
    assert _row_tally(values)[1] >= 0
    values[1] = -1e-300
    assert _row_tally(values)[1] < 0
    values[1] = -0.0
    assert _row_tally(values)[1] < 0
    values[1] = np.nan
    assert math.isnan(_row_tally(values)[0])


@pytest.mark.parametrize("shape", [(1, 1, 5), (3, 1, 40), (17, 9, 4), (512, 1, 512)])
@pytest.mark.parametrize("threads", [1, 2, 3, 64, 1000])
def test_chunks_cover_the_blocks_once_in_order(shape, threads):
    """Every row lies in one block (trailing blocks may be empty), the split does not
    depend on the thread count, and the per-thread chunks cover the blocks in order."""
    rows = shape[0] * shape[1]
    blocks, size, chunks = stage_blocks(shape, threads)
    assert (blocks, size) == stage_blocks(shape, 1)[:2]
    assert size == -(-rows // blocks) and blocks <= rows
    assert 1 <= chunks <= min(blocks, threads)
    covered = [b for c in range(chunks) for b in range(*thread_chunk(c, chunks, blocks))]
    assert covered == list(range(blocks))

"""One-pass field statistics and the bit-pattern tally (``pdediff._field_passes``)."""

import math

import numpy as np
import pytest
from numba import njit

from pdediff._field_passes import _bits, _double, _tally, copy_sum_min_max, sum_min_bits


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


@njit(cache=True)
def _doubles_of(bits, out):
    for k in range(bits.size):
        out[k] = _double(bits[k])


def test_double_inverts_bits():
    values = np.array([0.0, -0.0, 1.0, -2.5, np.inf, -np.inf, 5e-324, 1.7e308])
    out = np.empty(values.size)
    _doubles_of(values.view(np.int64), out)
    assert out.tobytes() == values.tobytes()


@pytest.mark.parametrize("n", [0, 1, 7, 8, 1000, 4097])
def test_sum_min_bits_is_the_sum_and_the_pattern_of_the_minimum(n):
    values = np.random.default_rng(n).random(n) ** 3
    total, smallest = sum_min_bits(values)
    assert abs(total - math.fsum(values)) <= max(n - 1, 1) * np.finfo(float).eps * math.fsum(values)
    if n:
        assert smallest == values.min().view(np.int64)
    values_neg = np.append(values, -1e-300)
    assert sum_min_bits(values_neg)[1] < 0
    values_nan = np.append(values, np.nan)
    assert math.isnan(sum_min_bits(values_nan)[0])


@pytest.mark.parametrize("n", [0, 1, 9, 1000, 4097])
def test_copy_clears_negative_zeros_and_returns_sum_min_max(n):
    rng = np.random.default_rng(n)
    src = rng.random(n) ** 3
    src[rng.random(n) < 0.2] = -0.0
    dst = np.full(n, np.nan)
    total, smallest, largest = copy_sum_min_max(src, dst)
    # + 0.0: the same values, every zero positive.
    assert np.array_equal(dst, src) and not np.signbit(dst).any()
    assert abs(total - math.fsum(src)) <= max(n - 1, 1) * np.finfo(float).eps * math.fsum(src)
    if n:
        assert smallest == src.min() and largest == src.max()
        assert not np.signbit(smallest)
    else:
        assert (smallest, largest) == (np.inf, -np.inf)

"""Block split and deterministic reductions of the fused stage (pure numba, no pdediff
imports).

Reductions are deterministic: cells are split into a fixed number of row blocks
(depending on the shape only, never on the number of threads); each block reduces in
a fixed order into its own slot and the slots are combined in a fixed order.  Each
row is tallied in its own loop (``pdediff._field_passes._tally``: a reassociated, vectorised sum whose
order is fixed by the compiled code, and a minimum over IEEE bit patterns), rows in
order into their block, blocks in order into the result (:func:`stage_result`).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

# Number of row blocks of the deterministic reductions (a shape-only constant).
_BLOCKS = 64


@njit(cache=True, error_model="numpy")
def _row_negative_min(out, i, j):
    """Exact minimum of row ``(i, j, :)`` (for a row flagged by ``_field_passes._tally``)."""
    smallest = np.inf
    for k in range(out.shape[2]):
        smallest = min(smallest, out[i, j, k])
    return smallest


@njit(cache=True, error_model="numpy")
def _fold_row(block, total, smallest, negative):
    """A block's ``(sum, smallest bit pattern, smallest negative value)`` with a row
    folded in: its ``_field_passes._tally`` ``(total, smallest)`` and, for a row flagged
    negative, its exact minimum ``negative`` (``inf`` otherwise).  Scalars only, so
    that LLVM inlines it (a call per row passing the field cost 5% of a 512^2 stage)."""
    block_total, block_bits, block_negative = block
    if smallest < 0:
        return block_total + total, block_bits, min(block_negative, negative)
    return block_total + total, min(block_bits, smallest), block_negative


@njit(cache=True, error_model="numpy")
def _row_max_bits(rates):
    """Largest bit pattern of a row of nonnegative rates (their maximum; a NaN rate has
    a larger pattern than +inf, so it is the one returned)."""
    bits = rates.view(np.int64)
    largest = np.int64(0)
    for k in range(bits.size):
        largest = max(largest, bits[k])
    return largest


@njit(cache=True, fastmath={"reassoc"}, error_model="numpy")
def _row_error_sum(out, u, u0, i, j, error_in, error_0, atol, rtol):
    """Sum over row ``(i, j, :)`` of ``((out - e) / (atol + rtol max(|u0|, |out|)))^2``
    with the embedded solution ``e = error_in u + error_0 u0``."""
    total = 0.0
    for k in range(out.shape[2]):
        value = out[i, j, k]
        old = u0[i, j, k]
        a = abs(old)
        b = abs(value)
        embedded = error_in * u[i, j, k] + error_0 * old
        ratio = (value - embedded) / (atol + rtol * (a if a > b else b))
        total += ratio * ratio
    return total


@njit(cache=True, error_model="numpy")
def thread_chunk(chunk, chunks, blocks) -> tuple[int, int]:
    """Blocks ``(first, last)`` of chunk ``chunk`` of ``chunks`` (contiguous, sizes
    differing by at most one)."""
    return chunk * blocks // chunks, (chunk + 1) * blocks // chunks


@njit(cache=True, error_model="numpy")
def separable_rate(a1, b1, present0, present1, present2):
    """``max_i c_i`` of a separable Scharfetter–Gummel stage from its 1-D arrays.

    ``c_i = ((c_0 + c_1) + c_2)`` with ``c_p = A_p[m + 1] + B_p[m]`` (the order of
    the stage kernel); rounding is monotone, so the maximum over cells of the rounded
    sum equals the rounded sum of the per-position maxima, bit for bit."""
    present = (present0, present1, present2)
    total = 0.0
    for p in range(3):
        largest = 0.0
        if present[p]:
            a = a1[p]
            b = b1[p]
            for m in range(a.size - 1):
                largest = max(largest, a[m + 1] + b[m])
        total = largest if p == 0 else total + largest
    return total


@njit(cache=True, error_model="numpy")
def stage_blocks(shape, threads) -> tuple[int, int, int]:
    """``(blocks, rows per block, chunks)`` of a stage on a 3-D ``shape``: the
    reduction blocks are a shape-only split (the same for every thread count); the
    ``chunks`` (one per thread, at most one per block) group them into calls."""
    rows = shape[0] * shape[1]
    blocks = min(rows, _BLOCKS)
    return blocks, (rows + blocks - 1) // blocks, max(1, min(blocks, threads))


@njit(cache=True, error_model="numpy")
def stage_result(partial, blocks, rate_from_arrays, a1, b1, shape):
    """Combine the block slots of a stage in a fixed order into ``(rate, min, sum,
    error_sum)``; ``rate_from_arrays``: a separable Scharfetter–Gummel stage, whose
    rate comes from the 1-D arrays (:func:`separable_rate`)."""
    rate = 0.0
    smallest = np.inf
    total = 0.0
    errors = 0.0
    for block in range(blocks):
        if not partial[block, 0] <= rate:
            rate = partial[block, 0]
        smallest = min(smallest, partial[block, 1])
        total += partial[block, 2]
        errors += partial[block, 3]
    if rate_from_arrays:
        rate = separable_rate(a1, b1, shape[0] > 1, shape[1] > 1, shape[2] > 1)
    return rate, smallest, total, errors


@njit(parallel=True, cache=True, error_model="numpy")
def error_norm(u_old, u_new, u_embedded, atol, rtol, partial):
    """RMS over cells of ``(u_new - u_embedded) / (atol + rtol max(|u_old|, |u_new|))``
    on flattened arrays (the ``scipy.integrate`` error norm), reduced in fixed blocks."""
    n = u_new.size
    blocks = min(n, _BLOCKS)
    size = (n + blocks - 1) // blocks
    for block in prange(blocks):
        total = 0.0
        start = np.int64(block) * size
        for m in range(start, min(n, start + size)):
            scale = atol + rtol * max(abs(u_old[m]), abs(u_new[m]))
            ratio = (u_new[m] - u_embedded[m]) / scale
            total += ratio * ratio
        partial[block, 3] = total
    total = 0.0
    for block in range(blocks):
        total += partial[block, 3]
    return math.sqrt(total / n)

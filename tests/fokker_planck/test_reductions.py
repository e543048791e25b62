"""The deterministic reductions of the fused stage (``pdediff.fokker_planck._reductions``)."""


import pytest

from pdediff.fokker_planck._reductions import stage_blocks, thread_chunk


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

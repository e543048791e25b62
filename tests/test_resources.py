import math
import time

import numpy as np
import pytest

from pdediff import _resources
from pdediff._resources import (
    ALIGNMENT,
    aligned_empty,
    array_bytes,
    available_memory,
    require_memory,
)


def test_available_memory_is_positive():
    value = available_memory()
    assert value > 0


def test_array_bytes_does_not_overflow():
    assert array_bytes((10**6,) * 4) == 8.0 * 1e24
    assert array_bytes((3, 4), count=2.5, itemsize=4) == 3 * 4 * 2.5 * 4


def test_require_memory_names_shape_needed_and_available(monkeypatch):
    monkeypatch.setattr(_resources, "available_memory", lambda: 1e9)
    require_memory(8e8, "small")  # at the usable fraction: fine
    start = time.perf_counter()
    with pytest.raises(MemoryError) as info:
        require_memory(8.01e8, "solve_forward work arrays", (10, 20))
    assert time.perf_counter() - start < 1.0
    message = str(info.value)
    assert message.startswith("solve_forward work arrays for shape (10, 20): needs")
    assert "8.01e+08 bytes" in message and "1e+09 bytes" in message


def test_small_requests_are_not_checked(monkeypatch):
    def unreadable():
        raise AssertionError("available_memory read for a small request")

    monkeypatch.setattr(_resources, "available_memory", unreadable)
    require_memory(_resources.SMALL_REQUEST - 1, "tiny")


def test_unknown_memory_never_refuses(monkeypatch):
    monkeypatch.setattr(_resources, "available_memory", lambda: math.inf)
    require_memory(1e30, "anything")


@pytest.mark.parametrize("shape", [(1,), (7,), (3, 5), (512, 1, 512), (4, 3, 9)])
def test_aligned_arrays_are_aligned_separate_and_shaped(shape):
    single = aligned_empty(shape)
    assert single.shape == shape and single.flags.c_contiguous
    assert single.ctypes.data % ALIGNMENT == 0
    fields = [aligned_empty(shape) for _ in range(4)]
    for k, field in enumerate(fields):
        assert field.shape == shape and field.flags.c_contiguous and field.dtype == float
        assert field.ctypes.data % ALIGNMENT == 0
        field[...] = k
    # No two fields share memory: each still holds its own value.
    for k, field in enumerate(fields):
        assert np.all(field == k)

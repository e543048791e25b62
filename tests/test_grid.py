import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pdediff import Grid


def test_attributes_2d():
    grid = Grid([(-1.0, 1.0), (0.0, 3.0)], (4, 6), bc=["periodic", "noflux"])
    assert grid.ndim == 2
    assert grid.shape == (4, 6)
    np.testing.assert_allclose(grid.spacing, [0.5, 0.5])
    np.testing.assert_allclose(grid.centers[0], [-0.75, -0.25, 0.25, 0.75])
    assert grid.cell_volume == pytest.approx(0.25)
    assert grid.periodic == (True, False)
    points = grid.points()
    assert points.shape == (4, 6, 2)
    np.testing.assert_allclose(points[1, 2], [grid.centers[0][1], grid.centers[1][2]])
    assert grid.size == 24
    assert grid.volume == pytest.approx(6.0)


@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_integrate_is_exact_for_cell_averages(ndim):
    grid = Grid([(0.0, 2.0)] * ndim, 5)
    assert grid.integrate(np.ones(grid.shape)) == pytest.approx(2.0**ndim, rel=1e-14)
    stacked = np.ones((3, *grid.shape))
    np.testing.assert_allclose(grid.integrate(stacked), [2.0**ndim] * 3)


def test_one_dimensional_pair_and_int_shape():
    grid = Grid((-1, 1), 10)
    assert grid.ndim == 1 and grid.shape == (10,)


def test_coarsen_conserves_mass_and_refined():
    grid = Grid([(0, 1), (0, 1)], 8)
    rng = np.random.default_rng(0)
    field = rng.random(grid.shape)
    coarse = Grid([(0, 1), (0, 1)], 4)
    assert coarse.integrate(grid.coarsen(field)) == pytest.approx(grid.integrate(field), rel=1e-14)
    assert coarse.refined(2) == grid


def test_cell_index_clips_and_wraps():
    grid = Grid([(0, 1), (0, 1)], 4, bc=["periodic", "noflux"])
    index = grid.cell_index(np.array([[1.1, 1.1], [-0.1, -0.1], [0.3, 0.6]]))
    np.testing.assert_array_equal(index, [[0, 3], [3, 0], [1, 2]])


def test_dict_round_trip():
    grid = Grid([(0, 1), (0, 2), (-1, 1)], (3, 4, 5), bc=["noflux", "periodic", "noflux"])
    assert Grid.from_dict(grid.to_dict()) == grid


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"bounds": [(1, 0)], "shape": 4}, "bounds"),
        ({"bounds": [(0, 1)] * 4, "shape": 4}, "bounds"),
        ({"bounds": [(0, np.nan)], "shape": 4}, "bounds"),
        ({"bounds": [(0, 1)], "shape": 2}, "shape"),
        ({"bounds": [(0, 1), (0, 1)], "shape": (4,)}, "shape"),
        ({"bounds": [(0, 1)], "shape": 4, "bc": "dirichlet"}, "bc"),
        ({"bounds": [(0, 1), (0, 1)], "shape": 4, "bc": ["noflux"]}, "bc"),
    ],
)
def test_bad_input_names_argument(kwargs, name):
    with pytest.raises((ValueError, TypeError), match=name):
        Grid(**kwargs)


@given(st.text(min_size=1, max_size=12).filter(lambda s: s not in ("noflux", "periodic")))
def test_unknown_bc_always_rejected(kind):
    with pytest.raises(ValueError, match="bc"):
        Grid([(0, 1)], 4, bc=kind)


def test_check_density_rejects_bad_fields():
    grid = Grid([(0, 1)], 4)
    with pytest.raises(ValueError, match="p0"):
        grid.check_density(np.array([1.0, -1.0, 1.0, 1.0]), "p0")
    with pytest.raises(ValueError, match="p0"):
        grid.check_density(np.array([1.0, np.nan, 1.0, 1.0]), "p0")
    with pytest.raises(ValueError, match="p0"):
        grid.check_density(np.ones(5), "p0")
    with pytest.raises(ValueError, match="p0"):
        grid.check_density(np.zeros(4), "p0")
    with pytest.raises(ValueError, match="p0: contains NaN or inf"):
        grid.check_density(np.array([1.0, np.inf, 1.0, 1.0]), "p0")
    with pytest.raises(ValueError, match="p0: contains NaN or inf"):
        grid.check_density(np.array([1.0, -np.inf, np.inf, 1.0]), "p0")
    with pytest.raises(TypeError, match="p0"):
        grid.check_density(np.ones(4, dtype=bool), "p0")


def test_check_density_copies_unless_told_and_clears_negative_zeros():
    grid = Grid([(0, 1)], 4)
    p = np.array([1.0, -0.0, 2.0, 0.5])
    out = grid.check_density(p)
    assert not np.shares_memory(out, p) and np.array_equal(out, p)
    assert not np.signbit(out).any() and np.signbit(p[1])
    assert grid.check_density(p, copy=False) is p
    as_float = grid.check_density(np.array([1, 0, 2, 3]), copy=False)
    assert as_float.dtype == np.float64
    # Finite values whose sum overflows are valid (as before the two-pass check).
    huge = np.full(4, 1e308)
    assert np.array_equal(grid.check_density(huge), huge)


@pytest.mark.parametrize(
    "kwargs, error, name",
    [
        ({"bounds": [("a", "b")], "shape": 4}, TypeError, "bounds"),
        ({"bounds": [(0, 1), (0, 1, 2)], "shape": 4}, ValueError, "bounds"),  # ragged
        ({"bounds": [(0, 1)], "shape": 4.0}, TypeError, "shape"),
        ({"bounds": [(0, 1)], "shape": "4"}, TypeError, "shape"),
        ({"bounds": [(0, 1)], "shape": True}, TypeError, "shape"),
        ({"bounds": [(0, 1)], "shape": 4, "bc": 3}, TypeError, "bc"),
        ({"bounds": [(0, 1)], "shape": 4, "bc": [None]}, ValueError, "bc"),
    ],
)
def test_bad_types_name_the_argument(kwargs, error, name):
    with pytest.raises(error, match=name):
        Grid(**kwargs)


@given(st.one_of(st.text(max_size=3), st.booleans(), st.none(), st.floats(allow_nan=True),
                 st.lists(st.floats(allow_nan=True), max_size=3)))
def test_refined_and_coarsen_factor_type_checked(factor):
    grid = Grid([(0, 1)], 4)
    with pytest.raises((TypeError, ValueError), match="factor"):
        grid.refined(factor)
    with pytest.raises((TypeError, ValueError), match="factor"):
        grid.coarsen(np.ones(4), factor)


@given(st.lists(st.one_of(st.lists(st.floats(-1, 1), min_size=1, max_size=3),
                          st.text(max_size=2)), min_size=2, max_size=4))
def test_ragged_or_text_fields_give_a_named_error(field):
    grid = Grid([(0, 1)], 4)
    try:
        array = np.asarray(field, dtype=float)
    except (ValueError, TypeError):
        array = None
    if array is not None and array.shape[-1:] == (4,):
        return  # a valid rectangular field: nothing to check here
    with pytest.raises((TypeError, ValueError), match="field"):
        grid.integrate(field)
    if array is None:  # ragged or text: no reading as points either
        with pytest.raises((TypeError, ValueError), match="^x: "):
            grid.cell_index(field)


# --------------------------------------------------------------- resource guard
def test_absurd_grid_is_refused_at_once_without_allocating():
    import time
    import tracemalloc

    tracemalloc.start()
    start = time.perf_counter()
    with pytest.raises(MemoryError) as info:
        Grid([(-1, 1)] * 3, 10000)
    elapsed = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    message = str(info.value)
    assert "(10000, 10000, 10000)" in message
    assert "8e+12 bytes" in message and "available" in message
    assert elapsed < 1.0
    assert peak < 1 << 20


def test_field_bytes_counts_without_allocating():
    grid = Grid([(0, 1)] * 3, (10, 20, 30))
    assert grid.field_bytes() == 8.0 * 6000
    assert grid.field_bytes(2, (3,)) == 2 * 8.0 * 6000 * 3
    assert grid.field_bytes(1, itemsize=4) == 4.0 * 6000


def test_points_and_cell_average_are_guarded(monkeypatch):
    from pdediff import _resources
    from pdediff.distributions import GaussianMixture

    grid = Grid([(-1, 1)] * 3, 200)  # one field: 64 MB
    # Pretend only 100 MB are available: one field fits, points() (6 fields) does not.
    monkeypatch.setattr(_resources, "available_memory", lambda: 100e6)
    with pytest.raises(MemoryError, match=r"Grid.points for shape \(200, 200, 200\)"):
        grid.points()
    law = GaussianMixture(np.zeros((1, 3)), [0.3])
    import time
    import tracemalloc

    tracemalloc.start()
    start = time.perf_counter()
    with pytest.raises(MemoryError, match=r"cell_average for shape \(200, 200, 200\).*bytes"):
        law.cell_average(grid, 0.5, __import__("pdediff").OU())
    assert time.perf_counter() - start < 1.0
    assert tracemalloc.get_traced_memory()[1] < 1 << 20  # refused before allocating
    tracemalloc.stop()
    monkeypatch.setattr(_resources, "available_memory", lambda: 1e6)
    with pytest.raises(MemoryError, match="Grid: one float64 field"):
        Grid([(-1, 1)] * 3, 200)

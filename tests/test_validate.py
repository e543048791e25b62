"""The shared argument checks: each names the argument, refuses the wrong type with
TypeError and an illegal value with ValueError, and returns the canonical type."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pdediff import _validate

NOT_A_NUMBER = st.one_of(
    st.text(max_size=5), st.booleans(), st.none(), st.binary(max_size=3),
    st.lists(st.integers(), min_size=2, max_size=3), st.dictionaries(st.text(), st.integers()),
)


@given(NOT_A_NUMBER)
def test_real_refuses_non_numbers_naming_the_argument(value):
    with pytest.raises(TypeError, match=r"^dt: expected a real number"):
        _validate.real(value, "dt")


def test_string_numbers_are_refused():
    # dt="0.1" must not slip through float("0.1").
    with pytest.raises(TypeError, match="dt"):
        _validate.positive("0.1", "dt")


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_positive_nonnegative_real(value):
    if not math.isfinite(value):
        for check in (_validate.real, _validate.positive, _validate.nonnegative):
            with pytest.raises(ValueError, match="^h: "):
                check(value, "h")
        return
    assert _validate.real(value, "h") == value
    if value > 0:
        assert _validate.positive(value, "h") == value
    else:
        with pytest.raises(ValueError, match="^h: expected a positive"):
            _validate.positive(value, "h")
    if value >= 0:
        assert _validate.nonnegative(value, "h") == value
    else:
        with pytest.raises(ValueError, match="^h: "):
            _validate.nonnegative(value, "h")


@given(st.one_of(st.floats(), st.text(max_size=3), st.booleans(), st.none()))
def test_integer_refuses_floats_and_bools(value):
    with pytest.raises(TypeError, match="^n: expected an int"):
        _validate.integer(value, "n")


@given(st.integers(-10, 10))
def test_integer_bounds(value):
    if value < 1:
        with pytest.raises(ValueError, match="^n: expected an int >= 1"):
            _validate.positive_int(value, "n")
    else:
        assert _validate.positive_int(np.int64(value), "n") == value
        assert type(_validate.positive_int(np.int64(value), "n")) is int


@given(st.floats(-2, 3))
def test_probability(value):
    if 0 <= value <= 1:
        assert _validate.probability(value, "q") == value
    else:
        with pytest.raises(ValueError, match=r"^q: expected a number in \[0, 1\]"):
            _validate.probability(value, "q")


# Ragged nested lists: rows of different lengths.
RAGGED = st.lists(st.lists(st.floats(-1, 1), min_size=1, max_size=4), min_size=2, max_size=4).filter(
    lambda rows: len({len(r) for r in rows}) > 1)


@given(RAGGED)
def test_ragged_input_gives_a_named_error(rows):
    for check in (lambda v: _validate.real_array(v, "x0"), lambda v: _validate.points(v, "x0"),
                  lambda v: _validate.times(v, "x0")):
        with pytest.raises(ValueError, match="^x0: expected a rectangular"):
            check(rows)


@given(st.lists(st.text(min_size=1, max_size=3), min_size=1, max_size=3))
def test_text_arrays_refused(values):
    with pytest.raises(TypeError, match="^v: expected a real array"):
        _validate.real_array(values, "v")


@given(st.lists(st.floats(0, 10), min_size=1, max_size=6))
def test_times_order_and_horizon(values):
    array = np.asarray(values)
    steps = np.diff(array)
    if np.all(steps > 0):
        np.testing.assert_array_equal(_validate.times(values, increasing=True), array)
    else:
        with pytest.raises(ValueError, match="^t_eval: expected strictly increasing"):
            _validate.times(values, increasing=True)
    if array.max() > 5.0:
        with pytest.raises(ValueError, match="^t_eval: times must be <= the process horizon"):
            _validate.times(values, T=5.0)
    else:
        _validate.times(values, T=5.0)


def test_forward_time_and_choice_and_rng():
    assert _validate.forward_time(0.5, "t0", T=1.0) == 0.5
    with pytest.raises(ValueError, match="^t0: time 2 is past"):
        _validate.forward_time(2.0, "t0", T=1.0)
    with pytest.raises(ValueError, match="^t0: expected a finite forward time > 0"):
        _validate.forward_time(0.0, "t0", positive_only=True)
    with pytest.raises(ValueError, match="^method: expected one of"):
        _validate.choice("rk9", "method", ("ode", "sde"))
    with pytest.raises(TypeError, match="^seed"):
        _validate.rng(1.5)
    with pytest.raises(ValueError, match="^seed"):
        _validate.rng(-1)
    assert _validate.rng(3).random() == np.random.default_rng(3).random()


def test_points_and_weights():
    assert _validate.points([1.0, 2.0], "x", flat=True).shape == (2, 1)
    with pytest.raises(ValueError, match="^x: expected last dimension 3"):
        _validate.points(np.zeros((4, 2)), "x", 3)
    with pytest.raises(ValueError, match="^x: contains NaN"):
        _validate.points([[np.nan, 0.0]], "x")
    assert np.isnan(_validate.points([[np.nan, 0.0]], "x", finite=False)).any()
    np.testing.assert_allclose(_validate.weights([1.0, 3.0], 2), [0.25, 0.75])
    with pytest.raises(ValueError, match="^w: expected shape"):
        _validate.weights([1.0], 2, "w")
    with pytest.raises(ValueError, match="^w: weights must be nonnegative"):
        _validate.weights([1.0, -1.0], 2, "w")


def test_process_checker():
    from pdediff import OU

    assert _validate.process(OU()) == OU()
    with pytest.raises(TypeError, match="^process: expected a pdediff ForwardProcess"):
        _validate.process("ou")


def test_real_in_closed_interval_admits_inf_only_as_an_end():
    assert _validate.real_in(2, "p", 1.0, math.inf) == 2.0
    assert _validate.real_in(math.inf, "p", 1.0, math.inf) == math.inf
    with pytest.raises(ValueError, match=r"^p: expected a number in \[1, inf\], got 0.5"):
        _validate.real_in(0.5, "p", 1.0, math.inf)
    with pytest.raises(ValueError, match="^p: expected a number in"):
        _validate.real_in(math.nan, "p", 1.0, math.inf)
    with pytest.raises(TypeError, match="^p: expected a real number"):
        _validate.real_in("2", "p", 1.0, math.inf)


def test_positive_array():
    np.testing.assert_array_equal(_validate.positive_array([1, 2], "t", ndim=1), [1.0, 2.0])
    with pytest.raises(ValueError, match="^t: expected positive values, min is 0"):
        _validate.positive_array([1.0, 0.0], "t")
    with pytest.raises(ValueError, match="^t: expected a 1-D array"):
        _validate.positive_array([[1.0]], "t", ndim=1)
    with pytest.raises(ValueError, match="^t: contains NaN"):
        _validate.positive_array([1.0, math.nan], "t")


def test_grid_field_and_density():
    from pdediff import Grid

    grid = Grid([(0.0, 1.0)], 4)
    np.testing.assert_array_equal(_validate.grid_field([-1, 0, 1, 2], grid, "u"), [-1, 0, 1, 2])
    assert _validate.density(np.ones(4), grid, "p", mass_rtol=1e-6).sum() == 4.0
    with pytest.raises(TypeError, match="^grid: expected a pdediff.Grid"):
        _validate.grid_field(np.ones(4), "grid", "u")
    with pytest.raises(TypeError, match="^grid: expected a pdediff.Grid"):
        _validate.density(np.ones(4), None, "p")
    with pytest.raises(ValueError, match=r"^p: expected a probability density \(integral 1"):
        _validate.density(2 * np.ones(4), grid, "p", mass_rtol=1e-6)
    with pytest.raises(ValueError, match="^p"):
        _validate.density([1.0, -1.0, 1.0, 1.0], grid, "p")


def test_disjoint_refuses_overlapping_memory_naming_both_arrays():
    u = np.zeros((4, 5))
    v = np.zeros((4, 5))
    assert _validate.disjoint(v, "out", {"u": u}) is v
    for overlapping in (u, u[1:], u.T, u.reshape(-1)[::2]):
        with pytest.raises(ValueError, match=r"^out: must not overlap u \("):
            _validate.disjoint(overlapping, "out", {"w": v, "u": u})

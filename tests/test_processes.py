import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pdediff import OU, VE, VP, HeatFlow, SubVP
from pdediff.processes import make_process, process_from_dict

PROCESSES = [HeatFlow(0.7), OU(rate=1.3, g=0.8), VP(), SubVP(), VE(0.01, 50.0), VP(0.5, 5.0)]


@pytest.mark.parametrize("process", PROCESSES, ids=repr)
def test_sigma2_and_alpha_solve_their_odes(process):
    """d sigma^2/dt = 2 a sigma^2 + g^2 and alpha' = a alpha, by central differences:
    the truncation error O(h^2) sets rtol, the round-off of the difference quotient
    (~ eps max|f| / h) sets atol."""
    t = np.linspace(0.05, 0.95, 19) * process.T
    h = 1e-5 * process.T
    dsigma2 = (process.sigma2(t + h) - process.sigma2(t - h)) / (2 * h)
    rhs = 2 * process.a(t) * process.sigma2(t) + process.g2(t)
    roundoff = 10 * np.finfo(float).eps / h
    np.testing.assert_allclose(
        dsigma2, rhs, rtol=1e-6, atol=roundoff * np.max(process.sigma2(t + h))
    )
    dalpha = (process.alpha(t + h) - process.alpha(t - h)) / (2 * h)
    np.testing.assert_allclose(dalpha, process.a(t) * process.alpha(t), rtol=1e-6, atol=roundoff)
    assert process.sigma2(0.0) == 0.0
    assert process.alpha(0.0) == 1.0


def test_table_values():
    t = 0.3
    assert HeatFlow(2.0).sigma2(t) == pytest.approx(4.0 * t)
    assert OU(2.0, 3.0).sigma2(t) == pytest.approx(9.0 * (1 - np.exp(-4 * t)) / 4)
    vp = VP(0.1, 20.0)
    B = 0.1 * t + 0.5 * t**2 * 19.9
    assert vp.sigma2(t) == pytest.approx(1 - np.exp(-B))
    assert vp.alpha(t) == pytest.approx(np.exp(-B / 2))
    assert SubVP().sigma2(t) == pytest.approx((1 - np.exp(-B)) ** 2)
    assert SubVP().g2(t) == pytest.approx((0.1 + 19.9 * t) * (1 - np.exp(-2 * B)))
    ve = VE(0.01, 50.0)
    sigma = 0.01 * 5000.0**t
    assert ve.sigma2(t) == pytest.approx(sigma**2 - 0.01**2)
    assert ve.g2(t) == pytest.approx(2 * sigma**2 * np.log(5000.0))
    assert OU().prior_variance() == pytest.approx(0.5, rel=1e-8)


def test_small_t_has_no_cancellation():
    # sigma2 ~ g^2 t for tiny t: expm1 keeps full relative accuracy.
    assert OU(1.0, 1.0).sigma2(1e-12) == pytest.approx(1e-12, rel=1e-9)
    assert VP().sigma2(1e-12) == pytest.approx(0.1e-12, rel=1e-9)


def test_vectorised_shapes():
    t = np.linspace(0, 1, 7).reshape(7, 1)
    for process in PROCESSES:
        for method in ("a", "g2", "alpha", "sigma2", "sigma", "diffusion"):
            assert getattr(process, method)(t).shape == (7, 1)
        assert isinstance(process.sigma2(0.5), float)


@pytest.mark.parametrize("process", PROCESSES, ids=repr)
def test_dict_round_trip(process):
    assert process_from_dict(process.to_dict()) == process


@pytest.mark.parametrize(
    "factory, name",
    [
        (lambda: HeatFlow(0.0), "kappa"),
        (lambda: HeatFlow(-1.0), "kappa"),
        (lambda: OU(rate=np.nan), "rate"),
        (lambda: VP(beta_min=1.0, beta_max=0.5), "beta_max"),
        (lambda: VE(1.0, 0.5), "sigma_max"),
        (lambda: make_process("bogus"), "process"),
        (lambda: HeatFlow().sigma2(-1.0), "t"),
        (lambda: HeatFlow().sigma2(np.nan), "t"),
    ],
)
def test_bad_input(factory, name):
    with pytest.raises((ValueError, TypeError), match=name):
        factory()


@given(st.floats(max_value=0.0, allow_nan=False))
def test_nonpositive_kappa_rejected(kappa):
    with pytest.raises(ValueError, match="kappa"):
        HeatFlow(kappa)


@pytest.mark.parametrize("cls, name", [(HeatFlow, "kappa"), (OU, "rate"), (OU, "g"),
                                       (VP, "beta_min"), (VP, "beta_max"), (VE, "sigma_min"),
                                       (VE, "sigma_max"), (OU, "T")])
@given(value=st.one_of(st.text(max_size=4), st.booleans(), st.none(),
                       st.lists(st.floats(), min_size=2, max_size=3)))
def test_non_numbers_rejected_with_the_parameter_name(cls, name, value):
    with pytest.raises(TypeError, match=name):
        cls(**{name: value})


@given(st.one_of(st.text(min_size=1, max_size=4), st.lists(st.text(max_size=2), min_size=1, max_size=3)))
def test_time_arguments_type_checked(t):
    with pytest.raises((TypeError, ValueError), match="t"):
        OU().sigma(t)


def test_ragged_times_give_a_named_error():
    with pytest.raises(ValueError, match="t: expected a rectangular array"):
        OU().alpha([[0.1, 0.2], [0.3]])
    with pytest.raises(ValueError, match="sigma"):
        OU().time_where_sigma(-1.0)
    with pytest.raises(TypeError, match="sigma"):
        OU().time_where_sigma("0.5")

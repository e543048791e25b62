import numpy as np
import pytest

from pdediff.distributions import point_mass
from pdediff.processes import OU
from pdediff.scores import exact
from pdediff.studies import _halving


def test_coupled_noise_shares_one_brownian_path():
    # sqrt(H) Z_c = sqrt(h1) Z_1 + sqrt(h2) Z_2 for every coarse step: the same path
    T, t0, steps = 1.0, 1e-3, 8
    fine, coarse = _halving.coupled_noise(T, t0, steps, 5000, 2, np.random.default_rng(0))
    assert fine.shape == (16, 5000, 2) and coarse.shape == (8, 5000, 2)
    dt = np.abs(np.diff(_halving.log_step_grid(T, t0, 2 * steps)))[:, None, None]
    path_fine = np.sqrt(dt[0::2]) * fine[0::2] + np.sqrt(dt[1::2]) * fine[1::2]
    path_coarse = np.sqrt(dt[0::2] + dt[1::2]) * coarse
    np.testing.assert_allclose(path_coarse, path_fine, rtol=0, atol=1e-12)
    # the coarse increments are standard normal again
    assert abs(coarse.std() - 1.0) < 0.01 and abs(coarse.mean()) < 0.01


def test_halving_pair_change_is_the_step_error():
    # OU from a point mass: the reverse SDE with the exact score has q_t = p_t; with a
    # shared Brownian path the step-halving change of the variance is the
    # Euler-Maruyama bias and halves with the step (weak order 1)
    process = OU(1.0, 1.0, T=2.0)
    law = point_mass([0.0])
    score = exact(law, process)
    rng = np.random.default_rng(1)
    x_T = np.sqrt(process.prior_variance()) * rng.standard_normal((20_000, 1))
    t = np.geomspace(2.0, 0.05, 2)
    changes = []
    for steps in (10, 20, 40):
        x_c, x_f, fine = _halving.halving_pair(x_T, process, score, t, 1.0, steps,
                                               np.random.default_rng(2))
        assert fine == 2 * steps and x_c.shape == x_f.shape == (2, 20_000, 1)
        changes.append(abs(x_f[-1].var() - x_c[-1].var()))
    ratios = np.array(changes[:-1]) / np.array(changes[1:])
    assert np.all((ratios > 1.5) & (ratios < 2.7)), changes


def test_halving_pair_rejects_times_off_the_step_grid():
    process = OU(1.0, 1.0, T=1.0)
    score = exact(point_mass([0.0]), process)
    x = np.zeros((4, 1))
    with pytest.raises(ValueError, match="t_eval"):
        _halving.halving_pair(x, process, score, np.geomspace(1.0, 0.1, 4), 1.0, 10,
                              np.random.default_rng(0))
    assert _halving.converged(0.1, 1.0) and not _halving.converged(0.3, 1.0)
    assert not _halving.converged(float("nan"), 1.0)


def test_full_settings_put_every_output_time_on_the_step_grid():
    # halving_pair needs len(t_eval) - 1 to divide the step count (else ValueError late
    # in a long run); check the full and quick settings of the three studies up front
    from pdediff.studies import concentration, stopping_time

    for settings in (concentration.Settings.quick(), concentration.Settings.full()):
        assert settings.particle_steps % (settings.n_particle_times - 1) == 0
        concentration.cases(settings)
    for settings in (stopping_time.Settings.quick(), stopping_time.Settings.full()):
        assert settings.steps % settings.n_t0 == 0
        assert len(stopping_time.cases(settings)) == len(settings.sizes) * settings.seeds

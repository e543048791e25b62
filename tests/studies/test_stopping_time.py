import h5py
import numpy as np
import pytest

from pdediff.distributions import Points
from pdediff.studies import harness, stopping_time
from pdediff.studies.harness import Verdict
from tests.studies._figures import assert_clean


def test_nearest_training_distance():
    training = Points([[0.0, 0.0], [1.0, 0.0]])
    x = np.array([[[0.1, 0.0], [0.8, 0.3]]])
    d = stopping_time.nearest_training_distance(x, training)
    assert d.shape == (1, 2)
    assert d[0] == pytest.approx([0.1, np.hypot(0.2, 0.3)])
    with pytest.raises(TypeError, match="training"):
        stopping_time.nearest_training_distance(x, np.zeros((2, 2)))


def test_best_t0_is_the_parabola_vertex_not_a_grid_point():
    t0 = np.geomspace(1.0, 1e-4, 9)
    lt = np.log(t0)
    w = (lt - np.log(0.02)) ** 2 + 1.0
    assert stopping_time._best_log_t0(t0, w) == pytest.approx(np.log(0.02))
    assert stopping_time._best_log_t0(t0, lt) == pytest.approx(lt[-1])  # end: the end


def _synthetic(best_t0: dict[int, float], depth: float, noise: float, seeds: int = 4):
    """Results whose W2 curves are parabolas in log t0 with minimum at best_t0[N]."""
    rng = np.random.default_rng(0)
    t0 = np.geomspace(0.5, 1e-5, 16)
    sigma = np.sqrt(0.1 * t0)
    out = {}
    for n, best in best_t0.items():
        for s in range(seeds):
            curve = 0.3 + depth * ((np.log(t0) - np.log(best)) / 5) ** 2
            curve = curve + noise * rng.standard_normal(t0.size)
            window = (sigma <= 3e-3).astype(np.int8)
            d = sigma[window.astype(bool), None] * np.abs(rng.standard_normal((1, 300)))
            out[f"N{n}/seed{s}"] = {
                "t0": t0, "sigma_t0": sigma, "w2_population": curve,
                "memorisation_window": window, "nearest_window": d,
                "nearest_window_fine": d, "nearest_window_coarse": d,
                "mean_nearest_distance": sigma, "w2_training_to_population": 0.3,
            }
    return out


def test_checks_pass_on_a_clear_trade_off_and_fail_on_noise():
    settings = stopping_time.Settings.quick()
    clear = stopping_time.checks(_synthetic({16: 0.1, 64: 0.01, 256: 1e-3}, 0.2, 0.002),
                                 settings)
    verdicts = {c.name: c.verdict for c in clear}
    assert verdicts == {"memorisation_sqrt_t0": Verdict.PASS,
                        "interior_optimum": Verdict.PASS,
                        "best_t0_decreasing": Verdict.PASS}
    # flat curves: any "optimum" is noise; the leave-one-out gap cannot clear it
    flat = {c.name: c for c in stopping_time.checks(
        _synthetic({16: 0.1, 64: 0.01, 256: 1e-3}, 0.0, 0.01), settings)}
    assert flat["interior_optimum"].verdict is Verdict.FAIL
    # best t0 increasing with N, and equal best t0 (a tie): both FAIL
    for best in ({16: 1e-3, 64: 0.01, 256: 0.1}, {16: 0.01, 64: 0.01, 256: 0.01}):
        check = {c.name: c for c in stopping_time.checks(_synthetic(best, 0.2, 0.002),
                                                         settings)}["best_t0_decreasing"]
        assert check.verdict is Verdict.FAIL, best


@pytest.mark.slow
def test_quick_stopping_time_study(tmp_path, monkeypatch):
    summary = harness.run("stopping_time", quick=True, out=tmp_path, progress=False)
    checks = {c.name: c for c in summary.checks}
    assert set(checks) == {"memorisation_sqrt_t0", "interior_optimum", "best_t0_decreasing"}
    groups = stopping_time._by_size(summary.results)
    assert list(groups) == list(summary.settings.sizes)
    for n, reps in groups.items():
        assert len(reps) == summary.settings.seeds
        for r in reps:
            # memorisation: at t0_min the samples sit on training points
            assert r["mean_nearest_distance"][-1] < 0.05 * r["mean_nearest_distance"][0]
            assert r["training_set"].shape == (n, 2)
    # more data: W2 of the training set itself to the population decreases
    w2_train = [np.mean([r["w2_training_to_population"] for r in reps])
                for reps in groups.values()]
    assert all(a > b for a, b in zip(w2_train, w2_train[1:]))
    with h5py.File(tmp_path / "stopping_time.h5") as file:
        assert file.attrs["study"] == "stopping_time"
        assert file["checks/interior_optimum"].attrs["verdict"] == \
            checks["interior_optimum"].verdict.value
    assert (tmp_path / "figures" / "stopping_time.png").exists()
    assert_clean("stopping_time", tmp_path, monkeypatch)


def test_results_are_labelled_over_t0(tmp_path):
    import dataclasses

    from .._netcdf import tree_views

    settings = dataclasses.replace(stopping_time.Settings.quick(), sizes=(16,), n_particles=200,
                                   seeds=1)
    result = stopping_time.compute(stopping_time.cases(settings)[0], settings)
    root = tree_views(result, tmp_path / "r.h5")[""]
    assert root.w2_population.dims == root.mean_nearest_distance.dims == ("t0",)
    assert root.nearest_window.dims == ("t0_window", "particle")
    assert root.training_set.dims == ("training_point", "component")
    np.testing.assert_array_equal(root.t0.values, result["t0"].values)

"""Tests of pdediff.score_model.train and .losses: the paper's loss, that training
lowers both losses, determinism, and resuming from a checkpoint bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("jax")

from pdediff.distributions import GaussianMixture  # noqa: E402
from pdediff.processes import OU  # noqa: E402
from pdediff.score_model import LossOptions, MLPLogDensity, TrainOptions, evaluate_losses, train_mlp  # noqa: E402
from pdediff.score_model.losses import sample_batch  # noqa: E402

PROCESS = OU(rate=1.0, g=1.0, T=10.0)
LAW = GaussianMixture([[1.0, 1.0], [-1.0, -1.0]], [0.1 * np.eye(2)] * 2)
TINY = TrainOptions(iterations=(60, 30, 10), batch_dsm=512, batch_residual=256, history_every=5)


def _weights_equal(a, b) -> bool:
    return all(np.array_equal(la[k], lb[k]) and la[k].dtype == lb[k].dtype
               for la, lb in zip(a.get_weights(), b.get_weights()) for k in ("W", "b"))


def test_paper_batch_laws():
    # Claim: the default batch follows the paper's laws. Criteria: t - t_min ~ T Beta(1,2)
    # (mean T/3, var T^2/18 within 5 standard errors), s ~ U[t_min, T], y ~ U(box),
    # target = -(x - alpha x0)/sigma^2 (checked through its variance sum 1/sigma^2).
    loss = LossOptions()
    rng = np.random.default_rng(0)
    n = 40_000
    b = sample_batch(LAW, PROCESS, loss, n, n, rng, "float64")
    u = (b["t"] - loss.t_min) / PROCESS.T
    assert abs(u.mean() - 1 / 3) < 5 * np.sqrt(1 / 18 / n)
    assert np.all(b["lam"] == 1.0) and np.all(b["rho"] == 1.0)
    assert b["s"].min() >= loss.t_min and b["s"].max() <= PROCESS.T
    assert abs(b["s"].mean() - PROCESS.T / 2) < 5 * PROCESS.T / np.sqrt(12 * n)
    assert np.all(np.abs(b["y"]) <= 3.5) and abs(np.mean(b["y"] ** 2) - 3.5**2 / 3) < 0.05
    sigma2 = PROCESS.sigma2(b["t"])
    assert abs(np.mean(np.sum(b["target"] ** 2, axis=1) * sigma2) - 2.0) < 5 * np.sqrt(8 / n)
    np.testing.assert_allclose(b["a"], -1.0)
    np.testing.assert_allclose(b["D"], 0.5)


def test_loss_options_alternatives_and_validation():
    loss = LossOptions(dsm_weighting="sigma2", dsm_times="log_sigma", residual_points="data",
                       residual_weighting="sigma4")
    b = sample_batch(LAW, PROCESS, loss, 1000, 1000, np.random.default_rng(1), "float64")
    np.testing.assert_allclose(b["lam"], PROCESS.sigma2(b["t"]), rtol=1e-12)
    np.testing.assert_allclose(b["rho"], PROCESS.sigma2(b["s"]) ** 2, rtol=1e-12)
    assert np.max(np.abs(b["y"])) > 0  # noised data, not confined to the box by construction
    assert LossOptions.from_dict(loss.to_dict()) == loss
    for kwargs, match in [({"residual_weight": -1.0}, "residual_weight"),
                          ({"dsm_times": "sqrt"}, "dsm_times"),
                          ({"residual_points": "grid"}, "residual_points"),
                          ({"bounds": ((1.0, 0.0),)}, "bounds")]:
        with pytest.raises(ValueError, match=match):
            LossOptions(**kwargs)
    with pytest.raises(ValueError, match="iterations"):
        TrainOptions(iterations=(10,), learning_rates=(1e-3, 1e-4))


@pytest.mark.slow
def test_training_lowers_both_losses():
    # Claim: Adam on DSM + w R^2 lowers both terms. Criterion: on a fixed held-out
    # batch, the trained network's L_DSM and L_R are each below the untrained ones.
    loss = LossOptions(residual_weight=1.0, t_min=1e-2)
    model = MLPLogDensity(widths=(24, 24), seed=0)
    before = evaluate_losses(model, LAW, PROCESS, loss, n_dsm=20_000, n_residual=5_000)
    history = train_mlp(model, LAW, PROCESS, loss,
                        TrainOptions(iterations=(250, 100, 50), batch_dsm=1024, batch_residual=512,
                                     history_every=10), progress=False)
    after = evaluate_losses(model, LAW, PROCESS, loss, n_dsm=20_000, n_residual=5_000)
    assert after["dsm"] < 0.9 * before["dsm"], (before, after)
    assert after["residual"] < 0.5 * before["residual"], (before, after)
    assert history["iteration"][0] == 0 and history["iteration"][-1] == 399
    np.testing.assert_allclose(history["total"], history["dsm"] + history["residual"], rtol=1e-12)


@pytest.mark.slow
def test_training_is_deterministic_and_seeds_matter():
    runs = []
    for seed in (0, 0, 1):
        model = MLPLogDensity(widths=(8,), seed=0)
        options = TrainOptions(iterations=(20, 10, 5), batch_dsm=256, batch_residual=128, seed=seed)
        train_mlp(model, LAW, PROCESS, LossOptions(residual_weight=0.1), options, progress=False)
        runs.append(model)
    assert _weights_equal(runs[0], runs[1])
    assert not _weights_equal(runs[0], runs[2])


@pytest.mark.slow
@pytest.mark.parametrize("w", [0.0, 0.5])
def test_resume_after_interruption_gives_the_same_bits(tmp_path, w):
    loss = LossOptions(residual_weight=w)
    options = TrainOptions(iterations=(12, 8, 4), batch_dsm=256, batch_residual=128,
                           history_every=3, checkpoint_every=5)
    straight = MLPLogDensity(widths=(8, 8), seed=4)
    train_mlp(straight, LAW, PROCESS, loss, options, progress=False)
    pieces = MLPLogDensity(widths=(8, 8), seed=4)
    path = tmp_path / "run.ckpt.h5"
    train_mlp(pieces, LAW, PROCESS, loss, options, checkpoint=path, stop_after=7, progress=False)
    assert pieces.training["iterations_done"] == 7 and path.exists()
    resumed = MLPLogDensity(widths=(8, 8), seed=4)  # a fresh process would start here
    train_mlp(resumed, LAW, PROCESS, loss, options, checkpoint=path, stop_after=9, progress=False)
    assert resumed.training["iterations_done"] == 16
    train_mlp(resumed, LAW, PROCESS, loss, options, checkpoint=path, progress=False)
    assert resumed.training["iterations_done"] == 24
    assert _weights_equal(straight, resumed)
    for key in ("iteration", "dsm", "residual", "total"):
        np.testing.assert_array_equal(straight.history[key], resumed.history[key])
    # a checkpoint of another configuration is refused
    with pytest.raises(ValueError, match="checkpoint"):
        train_mlp(MLPLogDensity(widths=(8, 8), seed=5), LAW, PROCESS, loss, options,
                  checkpoint=path, progress=False)


def test_train_validation():
    model = MLPLogDensity(widths=(4,))
    with pytest.raises(TypeError, match="loss"):
        train_mlp(model, LAW, PROCESS, loss={"residual_weight": 1.0}, progress=False)
    with pytest.raises(ValueError, match="data"):
        train_mlp(model, np.zeros((10, 3)), PROCESS, options=TINY, progress=False)
    with pytest.raises(TypeError, match="process"):
        train_mlp(model, LAW, "ou", options=TINY, progress=False)


@pytest.mark.parametrize("loss", [LossOptions(residual_weight=0.3),
                                  LossOptions(dsm_weighting="sigma2", residual_points="data",
                                              residual_weighting="sigma4", residual_times="log_sigma")])
def test_jax_loss_equals_the_numpy_formulas(loss):
    # Claim: the traced training loss is L_DSM = mean_{p,d} lam (s - target)^2 and
    # L_R = mean rho R^2 with R the residual of the numpy path (itself zero on exact
    # laws, test_mlp). Criterion: equality to float64 round-off on the same batch.
    model = MLPLogDensity(widths=(10, 10), dtype="float64", seed=9)
    got = evaluate_losses(model, LAW, PROCESS, loss, n_dsm=3000, n_residual=2000, seed=5)
    batch = sample_batch(LAW, PROCESS, loss, 3000, 2000, np.random.default_rng([5, 0]), "float64")
    dsm = np.mean(batch["lam"][:, None] * (model.score(batch["x"], batch["t"]) - batch["target"]) ** 2)
    residual = np.mean(batch["rho"] * model.residual(batch["y"], batch["s"], PROCESS) ** 2)
    np.testing.assert_allclose(got["dsm"], dsm, rtol=1e-12)
    np.testing.assert_allclose(got["residual"], residual, rtol=1e-12)
    assert got["total"] == pytest.approx(dsm + loss.residual_weight * residual, rel=1e-12)


def test_one_compilation_serves_every_positive_residual_weight():
    # w is an argument of the jitted step: a sweep over w > 0 compiles once per
    # architecture and schedule, and w still acts (different w, different weights).
    from pdediff.score_model.train import _compiled_steps

    options = TrainOptions(iterations=(3, 2, 1), batch_dsm=64, batch_residual=32, history_every=2)
    models = []
    for w in (0.3, 3.0):
        model = MLPLogDensity(widths=(5,), seed=2)
        train_mlp(model, LAW, PROCESS, LossOptions(residual_weight=w), options, progress=False)
        models.append(model)
    step, _ = _compiled_steps(models[0].fn, True, options.iterations, options.learning_rates)
    assert step._cache_size() == 1
    assert not _weights_equal(*models)
    assert models[1].history["total"][0] == pytest.approx(
        models[1].history["dsm"][0] + 3.0 * models[1].history["residual"][0], rel=1e-6)

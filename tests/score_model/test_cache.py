"""Tests of pdediff.score_model.cache: keys, hit / miss / retrain, resume in pieces."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("jax")

from pdediff.distributions import GaussianMixture  # noqa: E402
from pdediff.processes import OU  # noqa: E402
from pdediff.score_model import LossOptions, TrainOptions, get_or_train, model_key  # noqa: E402

LAW = GaussianMixture([[1.0, 0.0], [-1.0, 0.0]], [0.2 * np.eye(2)] * 2)
CONFIG = {"widths": (6,), "seed": 0}
OPTIONS = TrainOptions(iterations=(6, 3, 1), batch_dsm=64, batch_residual=32, checkpoint_every=4)


def _same(a, b) -> bool:
    return all(np.array_equal(x[k], y[k]) for x, y in zip(a.get_weights(), b.get_weights()) for k in "Wb")


def test_key_depends_on_every_ingredient_but_not_on_checkpointing():
    loss = LossOptions()
    base = model_key({"widths": [6]}, loss, OPTIONS, LAW, OU())
    assert base == model_key({"widths": [6]}, loss, OPTIONS, LAW, OU())
    changed = [
        model_key({"widths": [7]}, loss, OPTIONS, LAW, OU()),
        model_key({"widths": [6]}, LossOptions(residual_weight=0.1), OPTIONS, LAW, OU()),
        model_key({"widths": [6]}, loss, TrainOptions(seed=1), LAW, OU()),
        model_key({"widths": [6]}, loss, OPTIONS, GaussianMixture([[0.0, 0.0]], [np.eye(2)]), OU()),
        model_key({"widths": [6]}, loss, OPTIONS, LAW, OU(rate=2.0)),
        model_key({"widths": [6]}, loss, OPTIONS, np.zeros((3, 2)), OU()),
    ]
    assert base not in changed and len(set(changed)) == len(changed)
    no_ckpt = TrainOptions(iterations=(6, 3, 1), batch_dsm=64, batch_residual=32, checkpoint_every=0)
    assert model_key({"widths": [6]}, loss, no_ckpt, LAW, OU()) == base


@pytest.mark.slow
def test_hit_miss_retrain_and_resume(tmp_path):
    loss = LossOptions(residual_weight=0.5)
    first, info = get_or_train(LAW, OU(), CONFIG, loss, OPTIONS, root=tmp_path, progress=False)
    assert info["status"] == "trained" and info["complete"]
    again, info2 = get_or_train(LAW, OU(), CONFIG, loss, OPTIONS, root=tmp_path, progress=False)
    assert info2["status"] == "hit" and info2["key"] == info["key"] and _same(first, again)
    redone, info3 = get_or_train(LAW, OU(), CONFIG, loss, OPTIONS, root=tmp_path, retrain=True,
                                 progress=False)
    assert info3["status"] == "trained" and _same(first, redone)  # deterministic retraining
    # a run in pieces, in a fresh folder: partial, then resumed; same bits as straight
    part, info4 = get_or_train(LAW, OU(), CONFIG, loss, OPTIONS, root=tmp_path / "b", stop_after=5,
                               progress=False)
    assert info4["status"] == "partial" and not info4["complete"]
    assert not (tmp_path / "b" / f"{info['key']}.h5").exists()
    done, info5 = get_or_train(LAW, OU(), CONFIG, loss, OPTIONS, root=tmp_path / "b", progress=False)
    assert info5["status"] == "resumed" and _same(first, done)
    assert not (tmp_path / "b" / f"{info['key']}.ckpt.h5").exists()

"""Training of the neural log-density models with optax Adam (loss:
:mod:`pdediff.score_model.losses`), resumable from checkpoints.

Schedule (paper): Adam with learning rate 1e-3 for 25k iterations, 1e-4 for 65k, 1e-5
for 10k, batches of 2e5 DSM triples and 5e4 residual points.  Iteration ``i`` draws
its batch from ``numpy.random.default_rng([seed, i])`` and the initial weights come
from the model seed (:func:`init_mlp`), so a run is a deterministic function of its
options; a run stopped after a checkpoint and resumed from it gives the same bits as
an uninterrupted one (the optimiser state is checkpointed too).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from .. import _validate
from ..processes import ForwardProcess
from . import _jax
from .io import load_mlp, save_mlp
from .losses import LossOptions, loss_terms, sample_batch
from .mlp import MLPLogDensity, _batched

jax, jnp, optax = _jax.require()

__all__ = ["TrainOptions", "QUICK_TRAIN", "train_mlp", "evaluate_losses"]


@dataclasses.dataclass(frozen=True)
class TrainOptions:
    """Optimiser, batches and bookkeeping of :func:`train_mlp`.

    Attributes
    ----------
    iterations, learning_rates
        Adam stages: ``iterations[k]`` steps at ``learning_rates[k]`` (paper:
        25k / 65k / 10k at 1e-3 / 1e-4 / 1e-5).
    batch_dsm, batch_residual
        DSM triples and residual points per iteration (paper: 2e5, 5e4).
    seed
        Seed of the batches (``default_rng([seed, iteration])``).
    history_every
        Record ``(dsm, residual, total)`` every this many iterations (and at the
        last); with ``residual_weight = 0`` the residual is then evaluated on a batch
        of ``batch_residual`` points without entering the gradient.
    checkpoint_every
        Write a checkpoint every this many iterations (0: never); does not change the
        result, so it is not part of a cache key.
    """

    iterations: tuple[int, ...] = (25_000, 65_000, 10_000)
    learning_rates: tuple[float, ...] = (1e-3, 1e-4, 1e-5)
    batch_dsm: int = 200_000
    batch_residual: int = 50_000
    seed: int = 0
    history_every: int = 10
    checkpoint_every: int = 0

    def __post_init__(self) -> None:
        iterations = tuple(_validate.integer(k, "iterations", minimum=0) for k in self.iterations)
        rates = tuple(_validate.positive(r, "learning_rates") for r in self.learning_rates)
        if len(iterations) != len(rates) or not iterations:
            raise ValueError("iterations, learning_rates: expected two non-empty sequences of equal length")
        object.__setattr__(self, "iterations", iterations)
        object.__setattr__(self, "learning_rates", rates)
        _validate.positive_int(self.batch_dsm, "batch_dsm")
        _validate.positive_int(self.batch_residual, "batch_residual")
        _validate.integer(self.seed, "seed", minimum=0)
        _validate.positive_int(self.history_every, "history_every")
        _validate.integer(self.checkpoint_every, "checkpoint_every", minimum=0)

    @property
    def total(self) -> int:
        return int(sum(self.iterations))

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        return {**out, "iterations": list(self.iterations), "learning_rates": list(self.learning_rates)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainOptions:
        data = dict(data)
        data["iterations"] = tuple(int(k) for k in np.atleast_1d(data["iterations"]))
        data["learning_rates"] = tuple(float(r) for r in np.atleast_1d(data["learning_rates"]))
        return cls(**data)


#: A quick schedule for tests and ``--quick`` runs (same three stages, small batches).
QUICK_TRAIN = TrainOptions(iterations=(300, 150, 50), batch_dsm=2_000, batch_residual=1_000)


def _optimizer(iterations: tuple[int, ...], learning_rates: tuple[float, ...]):
    """Adam with the piecewise-constant learning rate of the stages."""
    boundaries = np.cumsum(iterations)[:-1]
    rates = np.asarray(learning_rates)

    def schedule(count):
        return jnp.asarray(rates)[jnp.searchsorted(jnp.asarray(boundaries), count, side="right")]

    return optax.adam(schedule)


@functools.lru_cache(maxsize=32)
def _compiled_steps(fn, with_residual: bool, iterations: tuple[int, ...],
                    learning_rates: tuple[float, ...]):
    """The jitted Adam step ``step(params, state, batch, w)`` on ``L_DSM + w L_R`` and
    the jitted held-out residual, cached so that repeated trainings of one architecture
    compile once: ``w`` is an argument (a scalar of the model's dtype), so every
    ``w > 0`` of a sweep shares one compilation (``w = 0`` has its own, without the
    residual in the gradient)."""
    funcs = _batched(fn)
    score_fn, derivatives_fn = funcs["score"], funcs["all"]
    optimizer = _optimizer(iterations, learning_rates)

    def objective(params, batch, w):
        dsm, residual = loss_terms(score_fn, derivatives_fn, params, batch, jnp, with_residual)
        return dsm + w * residual, (dsm, residual)

    @jax.jit
    def step(params, state, batch, w):
        (total, (dsm, residual)), grads = jax.value_and_grad(objective, has_aux=True)(
            params, batch, w)
        updates, state = optimizer.update(grads, state, params)
        return optax.apply_updates(params, updates), state, total, dsm, residual

    @jax.jit
    def residual_only(params, batch):
        return loss_terms(score_fn, derivatives_fn, params, batch, jnp, True)[1]

    return step, residual_only


def _fingerprint(model, process, loss, options) -> str:
    """A hash of everything that determines the trained weights except the data (the
    cache key adds the data's description and the code version)."""
    training = options.to_dict()
    training.pop("checkpoint_every")
    record = {"config": model.config(), "process": process.to_dict(), "loss": loss.to_dict(),
              "train": training}
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()


def _new_history() -> dict[str, list]:
    return {"iteration": [], "dsm": [], "residual": [], "total": []}


def _write_checkpoint(path, model, opt_state, iteration, history, fingerprint) -> None:
    leaves = jax.tree_util.tree_leaves(opt_state)
    model.history = history
    model.training = {"fingerprint": fingerprint}
    save_mlp(model, path, extra={
        "iteration": int(iteration),
        "opt_state": {f"leaf_{k:03d}": np.asarray(leaf) for k, leaf in enumerate(leaves)},
    })


def _read_checkpoint(path, model, opt_state, fingerprint):
    stored, tree = load_mlp(path, with_tree=True)
    if stored.training.get("fingerprint") != fingerprint:
        raise ValueError(f"checkpoint: {path} was written by a different configuration")
    model.set_weights(stored.get_weights())
    treedef = jax.tree_util.tree_structure(opt_state)
    saved = tree["opt_state"]
    leaves = [jnp.asarray(saved[f"leaf_{k:03d}"]) for k in range(len(saved))]
    history = {k: list(np.asarray(v).tolist()) for k, v in stored.history.items()}
    return jax.tree_util.tree_unflatten(treedef, leaves), int(tree["iteration"]), history


def train_mlp(
    model: MLPLogDensity,
    data: Any,
    process: ForwardProcess,
    loss: LossOptions | None = None,
    options: TrainOptions | None = None,
    *,
    checkpoint: str | os.PathLike | None = None,
    stop_after: int | None = None,
    progress: bool = True,
) -> dict[str, np.ndarray]:
    """Train ``model`` in place on ``L = L_DSM + w L_R`` (:mod:`.losses`) with Adam.

    Parameters
    ----------
    model
        The network; its current weights are the initial ones.
    data
        A law with ``sample(n, rng)`` (fresh samples per batch) or samples (N, n).
    process
        The forward process (``T`` is the horizon).
    loss, options
        :class:`LossOptions` (default: the paper's loss, ``w = 0``) and
        :class:`TrainOptions` (default: the paper's schedule).
    checkpoint
        Path of a checkpoint file: resumed from if it exists (it must come from the
        same configuration), written every ``options.checkpoint_every`` iterations
        and when the call stops.
    stop_after
        Run at most this many iterations in this call (a long run in pieces).
    progress
        tqdm bar with the latest losses.

    Returns
    -------
    The history: ``iteration`` (int), ``dsm``, ``residual`` and ``total`` (float64)
    arrays, also kept as ``model.history``; ``model.training`` records the options,
    the process and the wall time.
    """
    if not isinstance(model, MLPLogDensity):
        raise TypeError(f"model: expected an MLPLogDensity, got {type(model).__name__}")
    process = _validate.process(process)
    loss = LossOptions() if loss is None else loss
    options = TrainOptions() if options is None else options
    if not isinstance(loss, LossOptions):
        raise TypeError(f"loss: expected LossOptions, got {type(loss).__name__}")
    if not isinstance(options, TrainOptions):
        raise TypeError(f"options: expected TrainOptions, got {type(options).__name__}")
    if len(loss.bounds) != model.ndim:
        raise ValueError(f"loss.bounds: expected {model.ndim} pairs, got {len(loss.bounds)}")
    if not hasattr(data, "sample"):
        data = _validate.real_array(data, "data")
        if data.ndim != 2 or data.shape[1] != model.ndim or data.shape[0] < 1:
            raise ValueError(f"data: expected samples of shape (N, {model.ndim}), got {data.shape}")
    if stop_after is not None:
        stop_after = _validate.integer(stop_after, "stop_after", minimum=0)
    w = loss.residual_weight
    fingerprint = _fingerprint(model, process, loss, options)
    started = time.perf_counter()

    with _jax.precision(model.dtype):
        opt_state = _optimizer(options.iterations, options.learning_rates).init(model.params)
        iteration, history = 0, _new_history()
        if checkpoint is not None and Path(checkpoint).exists():
            opt_state, iteration, history = _read_checkpoint(checkpoint, model, opt_state, fingerprint)

        step, residual_only = _compiled_steps(model.fn, w > 0, options.iterations,
                                              options.learning_rates)
        weight = jnp.asarray(w, dtype=model.dtype)

        total_iterations = options.total
        end = total_iterations if stop_after is None else min(total_iterations, iteration + stop_after)
        bar = tqdm(total=total_iterations, initial=iteration, disable=not progress, desc="train MLP")
        params = model.params
        dsm_keys = ("t", "x", "target", "lam")
        while iteration < end:
            record = iteration % options.history_every == 0 or iteration == total_iterations - 1
            rng = np.random.default_rng([options.seed, iteration])
            n_res = options.batch_residual if (w > 0 or record) else 0
            batch = sample_batch(data, process, loss, options.batch_dsm, n_res, rng, model.dtype)
            step_batch = batch if w > 0 else {k: batch[k] for k in dsm_keys}
            if record and w == 0:
                # the residual of the weights this step's losses are measured at
                residual = residual_only(params, batch)
            params, opt_state, total, dsm, res = step(params, opt_state, step_batch, weight)
            if record:
                res = res if w > 0 else residual
                values = (float(dsm), float(res), float(dsm) + w * float(res))
                if not all(math.isfinite(v) for v in values):
                    raise FloatingPointError(f"train_mlp: non-finite loss {values} at iteration {iteration}")
                history["iteration"].append(iteration)
                for key, value in zip(("dsm", "residual", "total"), values):
                    history[key].append(value)
                bar.set_postfix(dsm=f"{values[0]:.4g}", res=f"{values[1]:.4g}", total=f"{values[2]:.4g}")
            iteration += 1
            bar.update(1)
            model.params = params
            every = options.checkpoint_every
            if checkpoint is not None and every and iteration % every == 0:
                _write_checkpoint(checkpoint, model, opt_state, iteration, history, fingerprint)
        bar.close()
        model.params = params
        if checkpoint is not None and iteration < total_iterations:
            _write_checkpoint(checkpoint, model, opt_state, iteration, history, fingerprint)

    model.history = {
        "iteration": np.asarray(history["iteration"], dtype=np.int64),
        **{k: np.asarray(history[k], dtype=np.float64) for k in ("dsm", "residual", "total")},
    }
    model.training = {
        "loss": loss.to_dict(),
        "train": options.to_dict(),
        "process": process.to_dict(),
        "iterations_done": int(iteration),
        "wall_time": time.perf_counter() - started,
    }
    return model.history


@functools.lru_cache(maxsize=32)
def _compiled_losses(fn):
    funcs = _batched(fn)
    return jax.jit(lambda p, b: loss_terms(funcs["score"], funcs["all"], p, b, jnp, True))


def evaluate_losses(
    model: MLPLogDensity,
    data: Any,
    process: ForwardProcess,
    loss: LossOptions | None = None,
    *,
    n_dsm: int = 100_000,
    n_residual: int = 50_000,
    seed: int = 2**31 - 1,
) -> dict[str, float]:
    """Held-out ``L_DSM`` and ``L_R`` (module :mod:`.losses`) of ``model`` on one batch
    drawn from ``default_rng([seed, 0])`` (default seed away from training seeds);
    returns ``{"dsm", "residual", "total"}`` with ``total = L_DSM + w L_R``."""
    process = _validate.process(process)
    loss = LossOptions() if loss is None else loss
    rng = np.random.default_rng([_validate.integer(seed, "seed", minimum=0), 0])
    batch = sample_batch(data, process, loss, _validate.positive_int(n_dsm, "n_dsm"),
                         _validate.positive_int(n_residual, "n_residual"), rng, model.dtype)
    with _jax.precision(model.dtype):
        dsm, residual = _compiled_losses(model.fn)(model.params, batch)
    dsm, residual = float(dsm), float(residual)
    return {"dsm": dsm, "residual": residual, "total": dsm + loss.residual_weight * residual}

"""Data laws and score models of the ODE-SDE gap study, and the model diagnostics.

* :func:`data_laws`: the paper's three laws ``blob``, ``circles2``, ``checker``;
* :func:`build_model`: the ``mlp`` class (the paper's log-density network, trained with
  the paper's loss through the model cache :func:`pdediff.score_model.get_or_train`, so a
  long full run resumes) or the ``spline`` class (:class:`pdediff.score_model.ScoreModel`,
  a second, labelled model class);
* :func:`diagnostics`: the held-out paper DSM loss, the mean ``R^2`` under the paper's
  collocation law (``t ~ U[t_min, T]``, ``x ~ U(box)``) and the score error
  ``E_t E_{p_t} |s_theta - grad log p_t|^2``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...distributions.paper import paper_law
from ...processes import ForwardProcess
from ...scores import exact

#: Data laws by the paper's names.
DATA = ("blob", "circles2", "checker")
#: Model classes: the paper's network and the spline model (labelled second class).
MODELS = ("mlp", "spline")
#: The ``circles2`` law here is an approximation; see :func:`data_laws`.
CIRCLES2_NOTE = ("circles2 = RadialNormal(radii (1.3, 2.8), radial std 0.2, equal masses, "
                 "uniform angle): the paper's law, the radius a folded normal (a negative draw "
                 "reflects through the origin)")


def data_laws() -> dict[str, Any]:
    """The paper's data laws (Deveney et al., arXiv 2311.15996, as their code draws them),
    from :func:`pdediff.distributions.paper_law`:

    * ``blob``: 9 equal-weight Gaussians ``N(0.65 m_k, 0.2 * 0.65^2 I)``, ``m_k`` in
      ``(+-2, +-2), (0, 0), (+-4, 0), (0, +-4)``;
    * ``circles2``: two rings of equal mass, radius ``~ N(1.3, 0.2)`` and ``N(2.8, 0.2)``,
      uniform angle (:data:`CIRCLES2_NOTE`);
    * ``checker``: 8 squares of side 1.5 on ``[-3, 3]^2``.
    """
    return {name: paper_law(name) for name in DATA}


def build_model(kind: str, law: Any, process: ForwardProcess, w: float, seed: int,
                settings: Any, progress: bool = False) -> tuple[Any, dict[str, Any]]:
    """The trained model of one row and a record of how it was obtained.

    ``mlp``: :class:`pdediff.score_model.MLPLogDensity` with ``settings.mlp_widths``,
    network seed ``seed``, trained on the paper's loss (:class:`LossOptions` defaults,
    ``residual_weight = w``, ``t_min = settings.train_t_min``) with Adam on
    ``settings.train_iterations`` / ``settings.train_learning_rates``, batches seeded by
    ``seed``; loaded from / stored in the cache ``settings.model_root``.
    ``spline``: :func:`pdediff.score_model.train_score_model` with the settings'
    spline sizes (its own loss, not the paper's: a second model class).
    """
    if kind == "mlp":
        from ...score_model import LossOptions, TrainOptions, get_or_train

        loss = LossOptions(residual_weight=float(w), t_min=settings.train_t_min,
                           bounds=((-settings.half_width, settings.half_width),) * 2)
        options = TrainOptions(iterations=tuple(settings.train_iterations),
                               learning_rates=tuple(settings.train_learning_rates),
                               batch_dsm=settings.train_batch_dsm,
                               batch_residual=settings.train_batch_residual, seed=int(seed),
                               checkpoint_every=settings.train_checkpoint_every)
        config = {"widths": tuple(settings.mlp_widths), "activation": "softplus",
                  "beta": 100.0, "seed": int(seed)}
        model, info = get_or_train(law, process, config, loss, options,
                                   root=settings.model_root, progress=progress)
        record = {"status": str(info["status"]), "key": str(info["key"]),
                  "complete": bool(info["complete"]), "n_params": int(model.n_params),
                  "train_wall_s": float(model.training.get("wall_time", np.nan))
                  if hasattr(model, "training") else np.nan}
        return model, record
    if kind == "spline":
        from ...score_model import train_score_model

        config = {"n_space": settings.spline_space, "n_time": settings.spline_time,
                  "n_dsm": settings.spline_dsm, "n_collocation": settings.spline_collocation,
                  "max_iter": settings.spline_iterations}
        model = train_score_model(law, process, float(w), config=config,
                                  n_data=settings.spline_data, seed=int(seed),
                                  progress=progress, t_min=settings.t0)
        return model, {"status": "trained", "key": "", "complete": True,
                       "n_params": int(model.n_params), "train_wall_s": np.nan}
    raise ValueError(f"model: expected one of {MODELS}, got {kind!r}")


def _residual(model: Any, x: np.ndarray, t: np.ndarray, process: ForwardProcess) -> np.ndarray:
    try:
        return np.asarray(model.residual(x, t, process), dtype=float)
    except TypeError:  # the spline model carries its process
        return np.asarray(model.residual(x, t), dtype=float)


def diagnostics(model: Any, law: Any, process: ForwardProcess, settings: Any,
                rng: np.random.Generator) -> dict[str, float]:
    """Held-out losses and score error of ``model`` (``settings.eval_points`` points).

    * ``dsm``: ``mean_{p,d} (s_d(x_t, t) + z_d/sigma_t)^2`` at ``t = T Beta(1, 2) + t_min``
      (the paper's DSM, ``lambda = 1``);
    * ``residual``: mean ``R[phi]^2`` at ``t ~ U[t_min, T]``, ``x ~ U([-H, H]^2)`` (the
      paper's collocation law);
    * ``score_mse``: ``E |s_theta - grad log p_t|^2`` over the same DSM time law, on
      ``settings.eval_times`` strata (the exact score is evaluated per time).
    """
    n, T, t_min = settings.eval_points, process.T, settings.train_t_min
    strata = settings.eval_times
    per = max(1, n // strata)
    # stratified DSM times: quantiles (k + 1/2)/K of T Beta(1, 2) + t_min
    u = (np.arange(strata) + 0.5) / strata
    times = T * (1.0 - np.sqrt(1.0 - u)) + t_min
    true_score = exact(law, process)
    dsm, mse = [], []
    for t in times:
        x0 = law.sample(per, rng)
        z = rng.standard_normal(x0.shape)
        alpha, sigma = float(process.alpha(t)), float(np.sqrt(process.sigma2(t)))
        x = alpha * x0 + sigma * z
        s = np.asarray(model.score(x, float(t)), dtype=float)
        dsm.append(np.mean((s + z / sigma) ** 2))
        mse.append(np.mean(np.sum((s - np.asarray(true_score(x, float(t)))) ** 2, axis=1)))
    h = settings.half_width
    x = rng.uniform(-h, h, size=(n, 2))
    t = rng.uniform(t_min, T, size=n)
    residual = _residual(model, x, t, process)
    return {"dsm": float(np.mean(dsm)), "residual": float(np.mean(residual**2)),
            "score_mse": float(np.mean(mse))}

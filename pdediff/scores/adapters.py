"""External score models: a user's JAX function or torch module as a pdediff score.

:func:`from_jax` and :func:`from_torch` wrap a network into an :class:`AdaptedScore`:
numpy in, numpy out, evaluated in chunks of points, never writing to its input, with
the divergence (and for log-density networks ``d_t phi``) by automatic differentiation,
exact up to the arithmetic of ``dtype`` (no finite differences).

**The callable contract.**  The user's network is called on *one point*:

* ``fn(x, t)`` with ``x`` of shape ``(n,)`` and ``t`` a scalar (0-d array), both of
  the adapter's ``dtype``;
* ``kind="score"``: it returns the score ``s(x, t)``, shape ``(n,)``;
* ``kind="log_density"``: it returns a scalar ``phi(x, t)`` (a log-density, possibly
  unnormalised); the score is ``grad_x phi``.

The adapter maps it over the points with ``jax.vmap`` / ``torch.func.vmap`` (so a
network written for a batch works as long as it also accepts an unbatched point, like
``Linear`` layers do; wrap ``(t, x)``-concatenating networks as ``lambda x, t:
net(concat([t[None], x]))``).  The adapter itself is called like every pdediff score:

* ``score(x, t)`` with ``x`` of shape ``(..., n)`` (any leading shape, numpy, never
  modified) and ``t`` a float or an array broadcastable to ``x.shape[:-1]`` (per-point
  times); returns a float64 array of shape ``x.shape``;
* ``score.divergence(x, t)`` -> ``x.shape[:-1]``: ``div s = tr(d s / d x)``
  (``tr Hess phi`` for a log-density), by forward-mode autodiff per point;
* for ``kind="log_density"`` also ``score.log_density(x, t)`` and
  ``score.dt_log_density(x, t)`` (``d_t phi``), both ``x.shape[:-1]``, so that
  :func:`pdediff.residual.fokker_planck_residual` (``score.fp_residual(process, x, t)``)
  and :func:`pdediff.residual.fp_residual` apply.

What the solvers pass in: :func:`pdediff.fokker_planck.solve_reverse` calls
``score(points, t)`` with the face points of one axis (an array ``(*face_shape, n)``)
and a scalar float ``t`` at every stage; :func:`pdediff.particles.reverse` calls
``score(x, t)`` with the particles ``(N, n)`` and a scalar float ``t`` per stage, and
``score.divergence(x, t) -> (N,)`` when it tracks ``log q`` along the ODE paths.

Computation is done in ``dtype`` (float64 by default; JAX runs under
``jax.enable_x64`` for it, without changing the global JAX configuration); results are
returned as float64 numpy arrays.  Chunks of ``chunk`` points bound the memory of the
autodiff intermediates; the last chunk is padded to the chunk size so a compiled JAX
function is traced once per (chunk, n).  JAX and torch are imported only when an
adapter is built.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .. import _validate
from ..residual import fokker_planck_residual

__all__ = ["AdaptedScore", "from_jax", "from_torch"]

_KINDS = ("score", "log_density")


class AdaptedScore:
    """A pdediff score backed by per-chunk evaluators (built by :func:`from_jax` or
    :func:`from_torch`; see the module docstring for the contract).

    Attributes
    ----------
    kind : ``"score"`` or ``"log_density"``
    backend : ``"jax"`` or ``"torch"``
    chunk : int, points per evaluation
    ndim : int or None, the dimension ``n`` when given
    """

    def __init__(self, evaluators: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]],
                 kind: str, backend: str, chunk: int, ndim: int | None) -> None:
        self._evaluators = evaluators
        self.kind = kind
        self.backend = backend
        self.chunk = chunk
        self.ndim = ndim

    def _run(self, what: str, x: Any, t: Any) -> np.ndarray:
        x = _validate.points(x, "x", self.ndim)
        lead, n = x.shape[:-1], x.shape[-1]
        flat = x.reshape(-1, n)
        try:
            times = np.broadcast_to(_validate.real_array(t, "t"), lead).reshape(-1)
        except ValueError as error:
            raise ValueError(
                f"t: expected a scalar or an array broadcastable to {lead}, got shape "
                f"{np.shape(t)}"
            ) from error
        if np.any(times < 0):
            raise ValueError("t: expected forward times >= 0")
        evaluate = self._evaluators[what]
        tail = (n,) if what == "score" else ()
        out = np.empty((flat.shape[0], *tail))
        for start in range(0, flat.shape[0], self.chunk):
            stop = min(start + self.chunk, flat.shape[0])
            xs, ts = flat[start:stop], times[start:stop]
            pad = self.chunk - (stop - start)
            if pad and flat.shape[0] > self.chunk:
                # a fixed chunk shape: one trace of the compiled function
                xs = np.concatenate([xs, np.repeat(xs[-1:], pad, axis=0)])
                ts = np.concatenate([ts, np.repeat(ts[-1:], pad)])
            values = np.asarray(evaluate(xs, ts), dtype=np.float64)
            out[start:stop] = values[: stop - start].reshape(stop - start, *tail)
        return out.reshape(*lead, *tail)

    def __call__(self, x: Any, t: Any) -> np.ndarray:
        """``s(x, t)`` (``grad_x phi`` for a log-density), shape ``x.shape``."""
        return self._run("score", x, t)

    def divergence(self, x: Any, t: Any) -> np.ndarray:
        """``div s = tr(ds/dx)`` (= ``Lap phi``) by autodiff, shape ``x.shape[:-1]``."""
        return self._run("divergence", x, t)

    def _need_log_density(self, what: str) -> None:
        if self.kind != "log_density":
            raise TypeError(f"{what}: only a kind='log_density' network has it")

    def log_density(self, x: Any, t: Any) -> np.ndarray:
        """``phi(x, t)``, shape ``x.shape[:-1]`` (kind ``"log_density"`` only)."""
        self._need_log_density("log_density")
        return self._run("log_density", x, t)

    def dt_log_density(self, x: Any, t: Any) -> np.ndarray:
        """``d_t phi(x, t)`` by autodiff, shape ``x.shape[:-1]`` (log-density only)."""
        self._need_log_density("dt_log_density")
        return self._run("dt_log_density", x, t)

    def fp_residual(self, process: Any, x: Any, t: Any) -> np.ndarray:
        """The Fokker–Planck residual ``R[phi](x, t) = d_t phi + n a + a x . grad phi -
        (g^2/2)(Lap phi + |grad phi|^2)`` (docs/theory, "Equations") from the exact
        autodiff derivatives, via :func:`pdediff.residual.fokker_planck_residual`;
        shape ``x.shape[:-1]`` (log-density only)."""
        self._need_log_density("fp_residual")
        process = _validate.process(process)
        x = _validate.points(x, "x", self.ndim)
        return fokker_planck_residual(process, x, t, self.dt_log_density(x, t), self(x, t),
                                      self.divergence(x, t))

    def __repr__(self) -> str:
        return f"AdaptedScore(backend={self.backend!r}, kind={self.kind!r}, chunk={self.chunk})"


def _check_common(fn: Any, kind: str, chunk: Any, ndim: Any) -> tuple[int, int | None]:
    if not callable(fn):
        raise TypeError(f"fn: expected a callable fn(x, t), got {type(fn).__name__}")
    _validate.choice(kind, "kind", _KINDS)
    chunk = _validate.positive_int(chunk, "chunk")
    ndim = None if ndim is None else _validate.positive_int(ndim, "ndim")
    return chunk, ndim


def from_jax(fn: Callable[[Any, Any], Any], *, kind: str = "score", chunk: int = 4096,
             dtype: Any = np.float64, ndim: int | None = None) -> AdaptedScore:
    """A JAX function as a pdediff score (contract in the module docstring).

    ``kind="score"``: ``s = fn(x, t)``, ``div s = tr jacfwd(fn)(x, t)``.
    ``kind="log_density"``: ``phi = fn(x, t)``, ``s = grad_x phi``, ``div s = tr
    hessian_x phi``, ``d_t phi = grad_t phi``.  All by ``jax.vmap`` over the points of a
    chunk, compiled with ``jax.jit``.

    Parameters
    ----------
    fn : callable ``fn(x, t)``, ``x`` (n,), ``t`` () -> (n,) or ()
    kind : ``"score"`` or ``"log_density"``
    chunk : int >= 1, points per compiled call
    dtype : ``numpy.float64`` (default, under ``jax.enable_x64``) or ``numpy.float32``
    ndim : int, optional; checks the last axis of every ``x``
    """
    try:
        import jax
        import jax.numpy as jnp
    except ImportError as error:  # pragma: no cover - jax is optional
        raise ImportError("from_jax: needs jax (install pdediff[nn])") from error
    chunk, ndim = _check_common(fn, kind, chunk, ndim)
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"dtype: expected float32 or float64, got {dtype}")
    x64 = dtype == np.float64

    if kind == "score":
        def divergence_one(x, t):
            return jnp.trace(jax.jacfwd(fn, argnums=0)(x, t))

        per_point = {"score": fn, "divergence": divergence_one}
    else:
        def divergence_one(x, t):
            return jnp.trace(jax.hessian(fn, argnums=0)(x, t))

        per_point = {"score": jax.grad(fn, argnums=0), "divergence": divergence_one,
                     "log_density": fn, "dt_log_density": jax.grad(fn, argnums=1)}
    compiled = {k: jax.jit(jax.vmap(f)) for k, f in per_point.items()}

    def make(f):
        def evaluate(xs: np.ndarray, ts: np.ndarray) -> np.ndarray:
            with jax.enable_x64(x64):
                out = f(jnp.asarray(xs, dtype=dtype), jnp.asarray(ts, dtype=dtype))
                return np.asarray(out)
        return evaluate

    return AdaptedScore({k: make(f) for k, f in compiled.items()}, kind, "jax", chunk, ndim)


def from_torch(module: Any, *, kind: str = "score", device: Any = "cpu", dtype: Any = None,
               chunk: int = 4096, ndim: int | None = None) -> AdaptedScore:
    """A torch module (or any torch callable) as a pdediff score (contract in the module
    docstring).

    The module is never modified: its parameters and buffers are converted to
    ``device``/``dtype`` at every call and passed through
    ``torch.func.functional_call`` (so later training of the module is seen, and its
    train/eval mode is the caller's).  Derivatives by ``torch.func``: ``jacfwd`` of the
    score (``kind="score"``), ``grad`` / ``hessian`` / ``grad`` in ``t`` of the
    log-density (``kind="log_density"``), mapped with ``torch.func.vmap``.

    Parameters
    ----------
    module : ``torch.nn.Module`` or callable ``module(x, t)``, ``x`` (n,), ``t`` ()
    kind : ``"score"`` or ``"log_density"``
    device : torch device of the computation (default ``"cpu"``)
    dtype : torch dtype (default ``torch.float64``)
    chunk : int >= 1, points per call
    ndim : int, optional; checks the last axis of every ``x``
    """
    try:
        import torch
        from torch.func import functional_call, grad, hessian, jacfwd, vmap
    except ImportError as error:  # pragma: no cover - torch is optional
        raise ImportError("from_torch: needs torch (pip install torch)") from error
    chunk, ndim = _check_common(module, kind, chunk, ndim)
    dtype = torch.float64 if dtype is None else dtype
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"dtype: expected torch.float32 or torch.float64, got {dtype}")
    device = torch.device(device)
    is_module = isinstance(module, torch.nn.Module)

    def state() -> dict[str, Any]:
        if not is_module:
            return {}
        named = dict(module.named_parameters())
        named.update(dict(module.named_buffers()))
        return {k: v.detach().to(device=device, dtype=dtype) if v.is_floating_point()
                else v.to(device=device) for k, v in named.items()}

    def call(params, x, t):
        return functional_call(module, params, (x, t)) if is_module else module(x, t)

    if kind == "score":
        def divergence_one(params, x, t):
            return torch.diagonal(jacfwd(call, argnums=1)(params, x, t)).sum()

        per_point = {"score": call, "divergence": divergence_one}
    else:
        def divergence_one(params, x, t):
            return torch.diagonal(hessian(call, argnums=1)(params, x, t)).sum()

        per_point = {"score": grad(call, argnums=1), "divergence": divergence_one,
                     "log_density": call, "dt_log_density": grad(call, argnums=2)}

    def make(f):
        mapped = vmap(f, in_dims=(None, 0, 0))

        def evaluate(xs: np.ndarray, ts: np.ndarray) -> np.ndarray:
            # torch.as_tensor of a float64 array of the same dtype shares memory: copy,
            # so the caller's array can never be written through the tensor
            xt = torch.tensor(xs, dtype=dtype, device=device)
            tt = torch.tensor(ts, dtype=dtype, device=device)
            return mapped(state(), xt, tt).detach().cpu().double().numpy()
        return evaluate

    return AdaptedScore({k: make(f) for k, f in per_point.items()}, kind, "torch", chunk, ndim)

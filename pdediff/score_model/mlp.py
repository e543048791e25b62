"""Neural log-density models in JAX: ``phi_theta(t, x)`` and its exact derivatives.

:class:`JaxLogDensity` wraps any scalar JAX function ``phi(params, t, x)`` (``t`` a
scalar, ``x`` of shape (n,)) and gives, with numpy arrays in and out, batched in
chunks and jit-compiled:

* ``log_density(x, t)`` = phi,
* ``score(x, t)`` = grad_x phi,
* ``divergence(x, t)`` = Lap_x phi (trace of the Hessian),
* ``dt_log_density(x, t)`` = d_t phi,
* ``residual(x, t, process)`` = R[phi] (docs/theory, "Equations")::

      R[phi](x, t) = d_t phi + n a + a x . grad phi - (g^2/2)(Lap phi + |grad phi|^2)

  through :func:`pdediff.residual._residual`, the package's one copy of the formula.

All derivatives are exact (automatic differentiation: one reverse pass for
``(d_t phi, grad_x phi)``, then ``n`` forward passes through it for the diagonal of the
Hessian); no finite differences.  :class:`MLPLogDensity` is the network of Deveney et
al. (arXiv 2311.15996): inputs ``(t, x)`` raw (no time embedding), Linear layers with
an activation after each hidden layer (default Softplus with ``beta = 100``,
``log(1 + exp(beta z)) / beta``), a scalar output.

JAX is optional (extra ``pdediff[nn]``); importing this module without it raises an
ImportError naming the extra.  ``dtype="float64"`` evaluates under a scoped
``jax_enable_x64`` (for verification); ``"float32"`` is the training default.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import numpy as np

from .. import _validate
from ..processes import ForwardProcess
from ..residual import _residual
from . import _jax

jax, jnp, _ = _jax.require()

__all__ = ["JaxLogDensity", "MLPLogDensity", "ACTIVATIONS", "mlp_apply", "init_mlp"]

#: Activations of the hidden layers (``beta`` applies to ``"softplus"`` only).
ACTIVATIONS = ("softplus", "tanh", "silu", "elu", "gelu", "sin")
DTYPES = ("float32", "float64")
_CHUNK = 1 << 16


def _activation(name: str, beta: float) -> Callable:
    if name == "softplus":
        return lambda z: jax.nn.softplus(beta * z) / beta
    return {"tanh": jnp.tanh, "silu": jax.nn.silu, "elu": jax.nn.elu, "gelu": jax.nn.gelu,
            "sin": jnp.sin}[name]


def mlp_apply(params: Sequence[dict], t: Any, x: Any, *, activation: str = "softplus",
              beta: float = 100.0) -> Any:
    """``phi_theta(t, x)`` of the MLP at one point: ``z_0 = (t, x)``,
    ``z_{l+1} = act(z_l W_l + b_l)`` for the hidden layers, ``phi = z_L W_L + b_L``.

    params : list of ``{"W": (fan_in, fan_out), "b": (fan_out,)}``; t : scalar;
    x : (n,). Returns a scalar."""
    act = _activation(activation, beta)
    z = jnp.concatenate([jnp.reshape(t, (1,)).astype(x.dtype), x])
    for layer in params[:-1]:
        z = act(z @ layer["W"] + layer["b"])
    return (z @ params[-1]["W"] + params[-1]["b"])[0]


def init_mlp(seed: int, sizes: Sequence[int], dtype: str = "float32") -> list[dict]:
    """Weights and biases ``~ U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` (the default of
    ``torch.nn.Linear``, as in the paper's code) for the layer sizes
    ``(n + 1, *widths, 1)``, drawn in float64 from ``numpy.random.default_rng(seed)``
    and rounded to ``dtype`` (so one seed gives the same network in both precisions,
    up to that rounding); host-side, so creating a network compiles nothing."""
    rng = np.random.default_rng(seed)
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        bound = 1.0 / math.sqrt(fan_in)
        W = rng.uniform(-bound, bound, (fan_in, fan_out)).astype(dtype)
        b = rng.uniform(-bound, bound, fan_out).astype(dtype)
        params.append({"W": jnp.asarray(W), "b": jnp.asarray(b)})
    return params


def _derivatives(fn: Callable, params: Any, t: Any, x: Any) -> tuple[Any, Any, Any, Any]:
    """``(phi, d_t phi, grad_x phi, Lap_x phi)`` at one point, exactly: a reverse pass
    for the gradient in ``(t, x)`` and ``n`` forward passes through it (the Hessian's
    ``x`` diagonal)."""
    n = x.shape[0]

    def joint_grad(tx):
        return jax.value_and_grad(lambda u: fn(params, u[0], u[1:]))(tx)

    tx = jnp.concatenate([jnp.reshape(t, (1,)).astype(x.dtype), x])
    (phi, gradient), linear = jax.linearize(joint_grad, tx)
    basis = jnp.eye(n + 1, dtype=x.dtype)[1:]
    hessian_rows = jax.vmap(lambda e: linear(e)[1])(basis)  # (n, n + 1): d_x_i grad
    laplacian = jnp.trace(hessian_rows[:, 1:])
    return phi, gradient[0], gradient[1:], laplacian


@functools.lru_cache(maxsize=64)
def _mlp_fn(activation: str, beta: float) -> Callable:
    """The one point function per (activation, beta): equal networks share their
    compiled code (JAX caches compilations per function object)."""
    return partial(mlp_apply, activation=activation, beta=beta)


@functools.lru_cache(maxsize=64)
def _batched(fn: Callable) -> dict[str, Callable]:
    """The vmapped point functions of ``fn`` (``t`` per point), uncompiled."""
    grad_x = jax.grad(fn, argnums=2)
    grad_t = jax.grad(fn, argnums=1)

    def laplacian(params, t, x):
        return _derivatives(fn, params, t, x)[3]

    def everything(params, t, x):
        return _derivatives(fn, params, t, x)

    in_axes = (None, 0, 0)
    return {
        "phi": jax.vmap(fn, in_axes),
        "score": jax.vmap(grad_x, in_axes),
        "lap": jax.vmap(laplacian, in_axes),
        "dt": jax.vmap(grad_t, in_axes),
        "all": jax.vmap(everything, in_axes),
    }


def _padded_size(m: int, chunk: int) -> int:
    """``m`` rounded up to a multiple of 1/16 of its next power of two (at least 256,
    at most ``chunk``): under 1/16 + rounding of padding, and at most 16 compiled
    sizes per octave of batch size."""
    if m >= chunk:
        return chunk
    m = max(m, 1)
    quantum = max(256, (1 << max(0, (m - 1).bit_length())) // 16)
    return min(chunk, -(-m // quantum) * quantum)


@functools.lru_cache(maxsize=64)
def _jitted(fn: Callable) -> dict[str, Callable]:
    return {name: jax.jit(f) for name, f in _batched(fn).items()}


class JaxLogDensity:
    """A log-density ``phi(params, t, x)`` written in JAX, evaluated on numpy arrays.

    Parameters
    ----------
    fn
        Scalar JAX function ``fn(params, t, x)``, ``t`` a scalar, ``x`` of shape
        ``(ndim,)``; must be differentiable twice in ``x`` and once in ``t``.
    params
        Any pytree of arrays (or None) passed as the first argument.
    ndim
        Dimension ``n`` of ``x``.
    dtype
        ``"float32"`` or ``"float64"`` (the precision of every evaluation).
    chunk
        Points per compiled call; a shorter last chunk is padded (:func:`_padded_size`)
        so that the number of compiled shapes stays small.
    """

    def __init__(self, fn: Callable, params: Any = None, *, ndim: int = 2,
                 dtype: str = "float32", chunk: int = _CHUNK) -> None:
        if not callable(fn):
            raise TypeError(f"fn: expected a callable fn(params, t, x), got {type(fn).__name__}")
        self.fn = fn
        self.ndim = _validate.positive_int(ndim, "ndim")
        self.dtype = _validate.choice(dtype, "dtype", DTYPES)
        self.chunk = _validate.integer(chunk, "chunk", minimum=256)
        self.params = params
        self._compiled = _jitted(fn)

    # ------------------------------------------------------------------ plumbing
    def _inputs(self, x: Any, t: Any) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
        x = _validate.real_array(x, "x")
        if x.ndim < 1 or x.shape[-1] != self.ndim:
            raise ValueError(f"x: expected shape (..., {self.ndim}), got {x.shape}")
        batch = x.shape[:-1]
        tt = _validate.real_array(t, "t")
        if np.any(tt < 0):
            raise ValueError("t: expected forward times >= 0")
        try:
            tt = np.broadcast_to(tt, batch)
        except ValueError as error:
            raise ValueError(f"t: shape {tt.shape} does not broadcast to x.shape[:-1] = {batch}") from error
        return x.reshape(-1, self.ndim), tt.reshape(-1), batch

    def _run(self, name: str, x: np.ndarray, t: np.ndarray) -> list[np.ndarray]:
        """Evaluate compiled function ``name`` over the flat points in chunks; numpy
        float64 outputs (a list: one array per output of the function)."""
        P = x.shape[0]
        outputs: list[list[np.ndarray]] = []
        with _jax.precision(self.dtype):
            for lo in range(0, max(P, 1), self.chunk):
                hi = min(P, lo + self.chunk)
                m = hi - lo
                size = _padded_size(m, self.chunk)
                xs = np.zeros((size, self.ndim), dtype=self.dtype)
                ts = np.zeros(size, dtype=self.dtype)
                xs[:m], ts[:m] = x[lo:hi], t[lo:hi]
                result = self._compiled[name](self.params, jnp.asarray(ts), jnp.asarray(xs))
                result = result if isinstance(result, tuple) else (result,)
                outputs.append([np.asarray(r, dtype=float)[:m] for r in result])
        return [np.concatenate([chunk[k] for chunk in outputs]) for k in range(len(outputs[0]))]

    # ------------------------------------------------------------------ fields
    def log_density(self, x: Any, t: Any) -> np.ndarray:
        """``phi(t, x)``; x : (..., n), t : scalar or broadcastable to
        ``x.shape[:-1]``. Returns ``x.shape[:-1]``."""
        xf, tf, batch = self._inputs(x, t)
        return self._run("phi", xf, tf)[0].reshape(batch)

    def score(self, x: Any, t: Any) -> np.ndarray:
        """``s = grad_x phi(t, x)`` (units 1/length), shape ``x.shape``."""
        xf, tf, batch = self._inputs(x, t)
        return self._run("score", xf, tf)[0].reshape(*batch, self.ndim)

    __call__ = score

    def divergence(self, x: Any, t: Any) -> np.ndarray:
        """``div s = Lap_x phi`` (units 1/length^2), exact; shape ``x.shape[:-1]``."""
        xf, tf, batch = self._inputs(x, t)
        return self._run("lap", xf, tf)[0].reshape(batch)

    laplacian = divergence

    def dt_log_density(self, x: Any, t: Any) -> np.ndarray:
        """``d_t phi(t, x)`` (units 1/time), exact; shape ``x.shape[:-1]``."""
        xf, tf, batch = self._inputs(x, t)
        return self._run("dt", xf, tf)[0].reshape(batch)

    time_derivative = dt_log_density

    def derivatives(self, x: Any, t: Any) -> dict[str, np.ndarray]:
        """``phi``, ``dt``, ``grad`` and ``lap`` in one compiled pass (shapes as the
        single methods)."""
        xf, tf, batch = self._inputs(x, t)
        phi, dt, grad, lap = self._run("all", xf, tf)
        return {"phi": phi.reshape(batch), "dt": dt.reshape(batch),
                "grad": grad.reshape(*batch, self.ndim), "lap": lap.reshape(batch)}

    def residual(self, x: Any, t: Any, process: ForwardProcess) -> np.ndarray:
        """Fokker–Planck residual (module docstring)::

            R[phi](x, t) = d_t phi + n a + a x . grad phi - (g^2/2)(Lap phi + |grad phi|^2)

        x : (..., n); t broadcastable to ``x.shape[:-1]``; ``a``, ``g^2`` of
        ``process`` at ``t`` (float64). Returns ``x.shape[:-1]`` (units 1/time)."""
        process = _validate.process(process)
        xf, tf, batch = self._inputs(x, t)
        _, dt, grad, lap = self._run("all", xf, tf)
        a = np.asarray(process.a(tf), float)
        D = np.asarray(process.diffusion(tf), float)
        return _residual(xf, a, D, dt, grad, lap).reshape(batch)


class MLPLogDensity(JaxLogDensity):
    """The log-density network ``phi_theta(t, x)`` of Deveney et al. (module docstring).

    Parameters
    ----------
    widths
        Hidden layer widths; the paper's ``(80, 80, 80)`` is Linear 3-80, 80-80,
        80-80, 80-1 (13,361 parameters in 2-D).
    activation
        One of :data:`ACTIVATIONS`, applied after every hidden layer.
    beta
        Softplus sharpness (``log(1 + exp(beta z)) / beta``), > 0.
    ndim
        Dimension of ``x``.
    dtype
        ``"float32"`` (training default) or ``"float64"``.
    seed
        Integer seed of the initial weights (:func:`init_mlp`).
    """

    def __init__(self, widths: Sequence[int] = (80, 80, 80), activation: str = "softplus",
                 beta: float = 100.0, ndim: int = 2, *, dtype: str = "float32", seed: int = 0,
                 chunk: int = _CHUNK) -> None:
        if isinstance(widths, (int, np.integer)) or not isinstance(widths, Sequence):
            raise TypeError(f"widths: expected a sequence of ints, got {widths!r}")
        if len(widths) < 1:
            raise ValueError("widths: expected at least one hidden layer")
        self.widths = tuple(_validate.positive_int(w, "widths") for w in widths)
        self.activation = _validate.choice(activation, "activation", ACTIVATIONS)
        self.beta = _validate.positive(beta, "beta")
        self.seed = _validate.integer(seed, "seed", minimum=0)
        ndim = _validate.positive_int(ndim, "ndim")
        dtype = _validate.choice(dtype, "dtype", DTYPES)
        fn = _mlp_fn(self.activation, self.beta)
        with _jax.precision(dtype):
            params = init_mlp(self.seed, (ndim + 1, *self.widths, 1), dtype)
        super().__init__(fn, params, ndim=ndim, dtype=dtype, chunk=chunk)

    @property
    def n_params(self) -> int:
        """Number of trainable parameters."""
        return int(sum(layer["W"].size + layer["b"].size for layer in self.params))

    def config(self) -> dict[str, Any]:
        """Constructor arguments (JSON-able) that rebuild this network's architecture
        and initial weights."""
        return {"widths": list(self.widths), "activation": self.activation, "beta": self.beta,
                "ndim": self.ndim, "dtype": self.dtype, "seed": self.seed}

    def get_weights(self) -> list[dict[str, np.ndarray]]:
        """The parameters as numpy arrays (copies), layer by layer."""
        return [{k: np.array(v) for k, v in layer.items()} for layer in self.params]

    def set_weights(self, weights: Sequence[dict[str, np.ndarray]]) -> None:
        """Replace the parameters (shapes and dtype must match the architecture)."""
        if len(weights) != len(self.params):
            raise ValueError(f"weights: expected {len(self.params)} layers, got {len(weights)}")
        new = []
        with _jax.precision(self.dtype):
            for k, (old, layer) in enumerate(zip(self.params, weights)):
                entry = {}
                for name in ("W", "b"):
                    value = np.asarray(layer[name])
                    if value.shape != old[name].shape or value.dtype != np.dtype(self.dtype):
                        raise ValueError(
                            f"weights[{k}][{name!r}]: expected {old[name].shape} {self.dtype}, "
                            f"got {value.shape} {value.dtype}")
                    entry[name] = jnp.asarray(value)
                new.append(entry)
        self.params = new

    @classmethod
    def from_linear_layers(cls, layers: Sequence[tuple[Any, Any]], *, activation: str = "softplus",
                           beta: float = 100.0, dtype: str = "float32") -> MLPLogDensity:
        """The network with given Linear layers in ``torch.nn.Linear`` layout: a list of
        ``(weight (fan_out, fan_in), bias (fan_out,))`` pairs from the input layer
        (``fan_in = n + 1``, inputs ordered ``(t, x_1, ..., x_n)`` as in the paper's
        code) to the scalar output layer; e.g. ``[(sd[f"{k}.weight"], sd[f"{k}.bias"])
        for k in ("input", "hidden1", "hidden2", "output")]`` of a state dict, as
        numpy arrays."""
        arrays = [(np.asarray(w, dtype=float), np.asarray(b, dtype=float)) for w, b in layers]
        if len(arrays) < 2:
            raise ValueError("layers: expected at least an input and an output layer")
        for k, (w, b) in enumerate(arrays):
            if w.ndim != 2 or b.shape != (w.shape[0],):
                raise ValueError(f"layers[{k}]: expected weight (out, in) and bias (out,), "
                                 f"got {w.shape} and {b.shape}")
            if k and w.shape[1] != arrays[k - 1][0].shape[0]:
                raise ValueError(f"layers[{k}]: fan_in {w.shape[1]} != previous fan_out "
                                 f"{arrays[k - 1][0].shape[0]}")
        if arrays[-1][0].shape[0] != 1:
            raise ValueError(f"layers: expected a scalar output, got {arrays[-1][0].shape[0]}")
        model = cls(widths=tuple(w.shape[0] for w, _ in arrays[:-1]), activation=activation,
                    beta=beta, ndim=arrays[0][0].shape[1] - 1, dtype=dtype)
        model.set_weights([{"W": w.T.astype(dtype), "b": b.astype(dtype)} for w, b in arrays])
        return model

    def __repr__(self) -> str:
        return (f"MLPLogDensity(widths={self.widths}, activation={self.activation!r}, "
                f"beta={self.beta}, ndim={self.ndim}, dtype={self.dtype!r})")

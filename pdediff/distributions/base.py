"""Base class of the data distributions and the machinery they share.

For a data law ``mu`` (``X_0 ~ mu``) and a linear forward process (docs/theory, Conventions),
the law of ``X_t = alpha_t X_0 + sigma_t Z`` has density

    p_t(x) = int N(x; alpha_t y, sigma_t^2 I) mu(dy).

Every distribution may carry a Gaussian blur ``smoothing = s >= 0``: the data law is
then ``mu * N(0, s^2 I)`` (law of ``Y + s Z``), and under any process it evolves like
``mu`` with the effective variance

    v_t = sigma_t^2 + alpha_t^2 s^2 .

So all closed forms are written once in terms of the pair ``(alpha, v)``; at ``t = 0``
the blurred law has a density (``v = s^2 > 0``) even when ``mu`` is singular.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
from scipy.special import ndtr

from ..grid import Grid
from ..processes import ForwardProcess

#: Maximum number of points evaluated at once (bounds the temporary memory of the
#: quadrature-based closed forms, which work on (points, nodes) arrays).
CHUNK = 1 << 14

_REGISTRY: dict[str, type[Distribution]] = {}


class ArgumentTypeError(TypeError, ValueError):
    """An argument of the wrong type.  Subclasses both ``TypeError`` and
    ``ValueError`` so callers may catch either."""


# ----------------------------------------------------------------------------- checks
def as_points(x: Any, ndim: int, name: str = "x") -> np.ndarray:
    """Validate points ``x`` of shape ``(..., ndim)``: real and finite.  Returns a float64
    array (not copied when already suitable)."""
    array = np.asarray(x)
    if array.dtype.kind not in "fiu" or array.dtype == bool:
        raise ArgumentTypeError(f"{name}: expected a real array, got dtype {array.dtype}")
    array = array.astype(np.float64, copy=False)
    if array.ndim == 0 or array.shape[-1] != ndim:
        raise ValueError(
            f"{name}: expected shape (..., {ndim}) (last axis = dimension {ndim}), "
            f"got {array.shape}"
        )
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name}: contains NaN or inf")
    return array


def as_positive(value: Any, name: str, allow_zero: bool = False) -> float:
    """A finite positive (or nonnegative) float, else ValueError/TypeError naming it."""
    try:
        number = float(value)
    except (TypeError, ValueError) as error:
        raise ArgumentTypeError(f"{name}: expected a number, got {value!r}") from error
    if not math.isfinite(number) or number < 0 or (number == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name}: expected a finite number {bound}, got {value!r}")
    return number


def as_weights(weights: Any, k: int, name: str = "weights") -> np.ndarray:
    """Mixture weights of length ``k``: nonnegative, summing to 1 within 1e-10.
    ``None`` gives uniform weights."""
    if weights is None:
        return np.full(k, 1.0 / k)
    w = np.asarray(weights, dtype=float)
    if w.shape != (k,):
        raise ValueError(f"{name}: expected shape ({k},), got {w.shape}")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError(f"{name}: expected finite nonnegative entries, got {w.tolist()}")
    if abs(w.sum() - 1.0) > 1e-10:
        raise ValueError(f"{name}: must sum to 1 (tolerance 1e-10), sum is {w.sum()!r}")
    return w / w.sum()


def as_center(center: Any, name: str = "center", dims: tuple[int, ...] = (1, 2, 3)) -> np.ndarray:
    """A point given as a 1-D array of length in ``dims``."""
    c = np.atleast_1d(np.asarray(center, dtype=float))
    if c.ndim != 1 or c.shape[0] not in dims:
        raise ValueError(f"{name}: expected a vector of length in {dims}, got shape {c.shape}")
    if not np.all(np.isfinite(c)):
        raise ValueError(f"{name}: must be finite")
    return c


# ----------------------------------------------------------------------- log helpers
def log1mexp(d: np.ndarray) -> np.ndarray:
    """``log(1 - exp(d))`` for ``d <= 0``, accurate everywhere (Maechler's switch at
    ``-log 2``); ``d = 0`` gives ``-inf``."""
    d = np.asarray(d, dtype=float)
    with np.errstate(divide="ignore"):
        return np.where(d > -math.log(2.0), np.log(-np.expm1(d)), np.log1p(-np.exp(d)))


def logsumexp(a: np.ndarray, axis: int = -1) -> np.ndarray:
    """``log sum exp a`` along ``axis`` without overflow; all ``-inf`` gives ``-inf``."""
    m = np.max(a, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(divide="ignore"):
        return np.log(np.sum(np.exp(a - m), axis=axis)) + np.squeeze(m, axis=axis)


def normal_cdf_difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``Phi(b) - Phi(a)`` for ``a <= b``, taking the tail where both are small so that
    small differences keep their relative accuracy (no ``1 - 1`` cancellation)."""
    right = a > 0
    return np.where(right, ndtr(-a) - ndtr(-b), ndtr(b) - ndtr(a))


# --------------------------------------------------------------------- cell helpers
def gauss_legendre(q: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss–Legendre nodes and weights on ``[0, 1]`` (weights sum to 1)."""
    nodes, weights = np.polynomial.legendre.leggauss(q)
    return 0.5 * (nodes + 1.0), 0.5 * weights


def separable_sum(factors: list[np.ndarray], weights: np.ndarray) -> np.ndarray:
    """``sum_k w_k prod_d F_d[k, i_d]``: a mixture of separable fields on a tensor grid.

    ``factors[d]`` has shape ``(K, n_d)``, ``weights`` shape ``(K,)``; returns an array of
    shape ``(n_0, ..., n_{D-1})``.  Contracted as matrix products (BLAS), in chunks of
    components so that the 3-D intermediate stays small.
    """
    k = weights.shape[0]
    shape = tuple(f.shape[1] for f in factors)
    if len(factors) == 1:
        return weights @ factors[0]
    if len(factors) == 2:
        return (factors[0] * weights[:, None]).T @ factors[1]
    out = np.zeros((shape[0] * shape[1], shape[2]))
    step = max(1, (1 << 22) // (shape[0] * shape[1]))
    for start in range(0, k, step):
        sl = slice(start, min(k, start + step))
        outer = (factors[0][sl] * weights[sl, None])[:, :, None] * factors[1][sl][:, None, :]
        out += outer.reshape(outer.shape[0], -1).T @ factors[2][sl]
    return out.reshape(shape)


def deposit_cic(grid: Grid, points: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Mass-conserving linear (cloud-in-cell) deposition of point masses on ``grid``.

    Each mass ``w_j`` at ``y_j`` is shared among the ``2^n`` cells whose centres
    surround it with the multilinear weights, so ``sum_cells mass * centre = w_j y_j``
    (exact centre of mass) for points at least half a cell from the walls.  Points
    between the last cell centre and a wall put their whole mass (along that axis) in
    the boundary cell (mass kept, centre of mass shifted by < h/2); points outside the
    grid box are dropped (their mass is not inside the grid).  Returns cell averages
    (mass / cell volume), shape ``grid.shape``.
    """
    inside = grid.contains(points)
    points, weights = points[inside], weights[inside]
    out = np.zeros(grid.shape)
    if points.shape[0] == 0:
        return out
    s = (points - grid.low) / grid.spacing - 0.5
    base = np.floor(s).astype(np.int64)
    frac = s - base
    n = grid.ndim
    for corner in range(1 << n):
        w = weights.copy()
        idx = []
        for d in range(n):
            bit = (corner >> d) & 1
            w = w * (frac[:, d] if bit else 1.0 - frac[:, d])
            idx.append(np.clip(base[:, d] + bit, 0, grid.shape[d] - 1))
        np.add.at(out, tuple(idx), w)
    return out / grid.cell_volume


def tensor_rule(
    grid: Grid, density: Callable[[np.ndarray], np.ndarray], nodes: np.ndarray, weights: np.ndarray
) -> np.ndarray:
    """Cell averages ``(1/|C|) int_C f`` by the tensor product of the 1-D rule
    ``(nodes, weights)`` on ``[0, 1]`` mapped into every cell.  ``density`` maps points
    (M, ndim) to values (M,).  Works one slab of cells along axis 0 at a time so the node
    array stays small."""
    q = nodes.shape[0]
    coords = [
        (grid.edges[d][:-1, None] + grid.spacing[d] * nodes[None, :]).ravel()
        for d in range(grid.ndim)
    ]
    out = np.empty(grid.shape)
    slab_shape = [m for d in range(grid.ndim) for m in ((1 if d == 0 else grid.shape[d]), q)]
    for i in range(grid.shape[0]):
        sub = [coords[0][i * q : (i + 1) * q], *coords[1:]]
        mesh = np.stack(np.meshgrid(*sub, indexing="ij"), axis=-1).reshape(-1, grid.ndim)
        values = density(mesh).reshape(slab_shape)
        for d in reversed(range(grid.ndim)):
            values = np.tensordot(values, weights, axes=([2 * d + 1], [0]))
        out[i] = values[0]
    return out


# ------------------------------------------------------------------------ base class
class Distribution:
    """A data law ``mu`` on ``R^ndim`` with exact ``log p_t``, score, divergence and
    Hessian under every linear forward process.

    Attributes
    ----------
    ndim : int
        Dimension ``n`` of the points.
    smoothing : float
        Gaussian blur ``s >= 0`` (see the module docstring); ``v_t = sigma_t^2 +
        alpha_t^2 s^2``.
    singular : bool
        Whether ``mu`` itself has no density (point masses, curves); then
        ``log p_0`` exists only when ``smoothing > 0``.
    is_compact : bool
        Whether the support of the (blurred) data law is compact.

    Subclasses implement ``_evaluate(x, alpha, v, mode)`` for ``v > 0`` on flat points
    ``x`` of shape ``(N, ndim)`` (``mode`` bits: 1 score, 2 divergence, 4 Hessian)
    returning ``(log p, score, divergence, hessian)`` with ``None`` for what was not
    asked, plus the data-law hooks ``_sample``, ``_distance``, ``_mean``, ``_cov``,
    ``_params`` and, for laws with a density, ``_log_density_data``.
    """

    name: ClassVar[str] = "distribution"
    #: the density of mu is smooth, so the score exists at t = 0 (Gaussian mixtures)
    regular_at_zero: ClassVar[bool] = False
    singular: ClassVar[bool] = False
    compact_data: ClassVar[bool] = True
    ndim: int
    smoothing: float = 0.0

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__:
            _REGISTRY[cls.name] = cls

    # ------------------------------------------------------------ properties
    @property
    def is_compact(self) -> bool:
        """Whether the support of the data law is compact (a blur makes it ``R^n``)."""
        return self.compact_data and self.smoothing == 0.0

    def smoothed(self, smoothing: float) -> Distribution:
        """A copy blurred by ``N(0, smoothing^2 I)``: the law of ``Y + s Z``."""
        out = self._copy()
        out.smoothing = as_positive(smoothing, "smoothing", allow_zero=True)
        return out

    def _copy(self) -> Distribution:
        # shallow: parameter arrays are never modified in place, so they can be shared
        return copy.copy(self)

    # ------------------------------------------------------------ time handling
    def _coefficients(self, t: Any, process: ForwardProcess | None) -> tuple[float, float]:
        """``(alpha_t, v_t = sigma_t^2 + alpha_t^2 s^2)`` after validating ``t``/``process``."""
        try:
            tt = float(t)
        except (TypeError, ValueError) as error:
            raise ArgumentTypeError(f"t: expected a scalar time, got {t!r}") from error
        if not math.isfinite(tt) or tt < 0:
            raise ValueError(f"t: expected a finite forward time >= 0, got {t!r}")
        if process is None:
            if tt > 0:
                raise ValueError("process: a ForwardProcess is required for t > 0")
            return 1.0, self.smoothing**2
        if not isinstance(process, ForwardProcess):
            raise ArgumentTypeError(
                "process: expected a pdediff.processes.ForwardProcess, got "
                f"{type(process).__name__}"
            )
        alpha = float(process.alpha(tt))
        v = float(process.sigma2(tt)) + alpha**2 * self.smoothing**2
        return alpha, v

    def _zero_variance_error(self, what: str) -> ValueError:
        if self.singular:
            return ValueError(
                f"t: log p_t is singular at t=0 for {type(self).__name__} (the data law has "
                "no density); use t > 0 or smoothing > 0"
            )
        return ValueError(
            f"t: the {what} of {type(self).__name__} is undefined at t=0 (the data density "
            "is discontinuous); use t > 0 or smoothing > 0"
        )

    def _run(self, x: Any, t: Any, process: ForwardProcess | None, mode: int) -> tuple:
        alpha, v = self._coefficients(t, process)
        pts = as_points(x, self.ndim)
        lead = pts.shape[:-1]
        flat = np.ascontiguousarray(pts.reshape(-1, self.ndim))
        if v == 0.0 and not self.regular_at_zero:
            raise self._zero_variance_error("score")
        step = CHUNK if self._chunked else max(flat.shape[0], 1)
        parts = [self._evaluate(flat[i : i + step], alpha, v, mode)
                 for i in range(0, max(flat.shape[0], 1), step)]
        out = []
        for j in range(4):
            if parts[0][j] is None:
                out.append(None)
                continue
            joined = np.concatenate([p[j] for p in parts]) if len(parts) > 1 else parts[0][j]
            out.append(joined.reshape(lead + joined.shape[1:]))
        return tuple(out)

    #: whether ``_evaluate`` should be fed bounded chunks (numpy paths with (N, Q) temps)
    _chunked: ClassVar[bool] = True

    # ------------------------------------------------------------ public evaluation
    def log_density(
        self, x: Any, t: float = 0.0, process: ForwardProcess | None = None
    ) -> np.ndarray:
        """``log p_t(x)``, ``p_t = law of alpha_t X_0 + sigma_t Z`` (docs/theory, Conventions).

        Parameters
        ----------
        x : array, shape (..., ndim)
            Points (units of the data).
        t : float
            Forward time ``>= 0``.  At ``t = 0`` the data log-density (``-inf`` outside a
            compact support); singular laws raise ValueError there.
        process : ForwardProcess
            Required for ``t > 0``.

        Returns
        -------
        array, shape (...)
            Computed in the log domain: finite for every ``t > 0`` however far ``x`` is.
        """
        alpha, v = self._coefficients(t, process)
        if v == 0.0 and not self.regular_at_zero:
            if self.singular:
                raise self._zero_variance_error("log-density")
            pts = as_points(x, self.ndim)
            return self._log_density_data(pts.reshape(-1, self.ndim)).reshape(pts.shape[:-1])
        return self._run(x, t, process, 0)[0]

    def density(self, x: Any, t: float = 0.0, process: ForwardProcess | None = None) -> np.ndarray:
        """``p_t(x) = exp(log p_t(x))`` (may underflow to 0 far from the mass)."""
        return np.exp(self.log_density(x, t, process))

    def score(self, x: Any, t: float = 0.0, process: ForwardProcess | None = None) -> np.ndarray:
        """Score ``s(x, t) = grad_x log p_t(x)`` (Tweedie: ``(alpha_t E[X_0 | X_t = x] -
        x) / v_t``), shape ``x.shape``; units 1/length.  Same arguments as
        :meth:`log_density`; raises ValueError at ``t = 0`` unless the data density is
        smooth (Gaussian mixtures) or ``smoothing > 0``."""
        return self._run(x, t, process, 1)[1]

    def score_divergence(
        self, x: Any, t: float = 0.0, process: ForwardProcess | None = None
    ) -> np.ndarray:
        """``div s = Lap log p_t(x)``, shape ``x.shape[:-1]``; units 1/length^2.  Bounded
        below by Li–Yau: ``>= -ndim / v_t`` (docs/theory, Li-Yau)."""
        return self._run(x, t, process, 2)[2]

    def hessian(self, x: Any, t: float = 0.0, process: ForwardProcess | None = None) -> np.ndarray:
        """``Hess log p_t(x) = -I / v_t + alpha_t^2 Cov[X_0 | X_t = x] / v_t^2`` (Tweedie),
        shape ``(..., ndim, ndim)``, symmetric, ``>= -I / v_t``."""
        return self._run(x, t, process, 4)[3]

    def log_density_and_score(
        self, x: Any, t: float = 0.0, process: ForwardProcess | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(log p_t(x), grad log p_t(x))`` from one evaluation."""
        out = self._run(x, t, process, 1)
        return out[0], out[1]

    # ------------------------------------------------------------ sampling, moments
    def sample(
        self,
        n: int,
        rng: np.random.Generator,
        t: float = 0.0,
        process: ForwardProcess | None = None,
    ) -> np.ndarray:
        """``n`` independent draws of ``X_t = alpha_t (Y + s Z') + sigma_t Z``, ``Y ~ mu``,
        shape ``(n, ndim)``, using only ``rng``."""
        if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 0:
            raise ValueError(f"n: expected a nonnegative int, got {n!r}")
        if not isinstance(rng, np.random.Generator):
            raise ArgumentTypeError(
                f"rng: expected a numpy.random.Generator, got {type(rng).__name__}"
            )
        alpha, v = self._coefficients(t, process)
        y = self._sample(int(n), rng)
        if v > 0:
            return alpha * y + math.sqrt(v) * rng.standard_normal((int(n), self.ndim))
        return alpha * y

    def distance_to_support(self, x: Any) -> np.ndarray:
        """Exact Euclidean distance ``d_K(x)`` to the support ``K`` of the data law,
        x of shape (..., ndim) -> (...); zero everywhere if the support is ``R^n``."""
        pts = as_points(x, self.ndim)
        if not self.is_compact:
            return np.zeros(pts.shape[:-1])
        return self._distance(pts.reshape(-1, self.ndim)).reshape(pts.shape[:-1])

    def nearest_point(self, x: Any) -> np.ndarray:
        """A nearest point ``y`` of the (compact) support ``K`` to each ``x``, shape
        ``x.shape``; ``|x - y| = distance_to_support(x)``.  The far-field limit of the
        score as ``t -> 0`` is ``-(x - alpha_t y(x / alpha_t)) / sigma_t^2``.  Raises
        ValueError when the support is ``R^n`` (Gaussian mixtures, blurred laws)."""
        pts = as_points(x, self.ndim)
        if not self.is_compact:
            raise ValueError(
                f"x: {type(self).__name__} has support R^{self.ndim}; no nearest point"
            )
        return self._nearest(pts.reshape(-1, self.ndim)).reshape(pts.shape)

    def mean(self, t: float = 0.0, process: ForwardProcess | None = None) -> np.ndarray:
        """``E[X_t] = alpha_t E[X_0]``, shape (ndim,)."""
        alpha, _ = self._coefficients(t, process)
        return alpha * self._mean()

    def covariance(self, t: float = 0.0, process: ForwardProcess | None = None) -> np.ndarray:
        """``Cov[X_t] = alpha_t^2 Cov[Y] + v_t I``, shape (ndim, ndim)."""
        alpha, v = self._coefficients(t, process)
        return alpha**2 * self._cov() + v * np.eye(self.ndim)

    # ------------------------------------------------------------ cell averages
    def cell_average(
        self,
        grid: Grid,
        t: float = 0.0,
        process: ForwardProcess | None = None,
        quadrature: int = 5,
    ) -> np.ndarray:
        """Cell averages ``(1/|C|) int_C p_t`` on every cell ``C`` of ``grid``.

        Exact (closed form) for Gaussian mixtures with diagonal covariances, point masses
        at ``t > 0`` and boxes; at ``t = 0`` singular laws are deposited with the
        mass-conserving cloud-in-cell rule (:func:`deposit_cic`), and uniform laws on
        curved sets by a 16-point-per-axis midpoint rule on the indicator.  Otherwise a
        ``quadrature``-point Gauss–Legendre tensor rule per cell, with error
        ``O((h / sqrt(v_t))^(2 quadrature))`` for cells of width ``h``.  The grid
        boundary kind is ignored (no periodic images).  The result sums to the mass of
        ``p_t`` inside the grid box.

        Returns an array of shape ``grid.shape`` (density units, 1/length^ndim).
        """
        if not isinstance(grid, Grid):
            raise ArgumentTypeError(f"grid: expected a pdediff.Grid, got {type(grid).__name__}")
        if grid.ndim != self.ndim:
            raise ValueError(f"grid: expected a {self.ndim}-D grid, got {grid.ndim}-D")
        if not isinstance(quadrature, (int, np.integer)) or not 1 <= quadrature <= 32:
            raise ValueError(f"quadrature: expected an int in [1, 32], got {quadrature!r}")
        grid.check_memory(
            2, "cell_average",
            extra_bytes=8.0 * (3 * grid.ndim + 4) * quadrature**grid.ndim * grid.size / grid.shape[0],
        )
        alpha, v = self._coefficients(t, process)
        exact = self._cell_average_exact(grid, alpha, v)
        if exact is not None:
            return exact
        if v == 0.0 and self.singular:
            points, weights = self._deposition_nodes(alpha, grid)
            return deposit_cic(grid, points, weights)
        if v == 0.0 and not self.regular_at_zero:
            return self._indicator_average(grid, alpha)
        return self._quadrature_average(grid, lambda y: self._density_flat(y, alpha, v), quadrature)

    def _density_flat(self, y: np.ndarray, alpha: float, v: float) -> np.ndarray:
        out = np.empty(y.shape[0])
        step = CHUNK if self._chunked else y.shape[0] + 1
        for i in range(0, y.shape[0], step):
            out[i : i + step] = np.exp(self._evaluate(y[i : i + step], alpha, v, 0)[0])
        return out

    def _quadrature_average(
        self, grid: Grid, density: Callable[[np.ndarray], np.ndarray], q: int
    ) -> np.ndarray:
        nodes, weights = gauss_legendre(q)
        return tensor_rule(grid, density, nodes, weights)

    def _indicator_average(self, grid: Grid, alpha: float, sub: int = 16) -> np.ndarray:
        """Midpoint rule with ``sub`` points per axis on the data density of ``alpha Y``
        (piecewise constant with a curved boundary: error O(h / sub) in the boundary
        cells only), rescaled so the mass is exactly 1 when the support lies inside the
        grid box."""
        nodes = (np.arange(sub) + 0.5) / sub
        weights = np.full(sub, 1.0 / sub)

        def density(y: np.ndarray) -> np.ndarray:
            with np.errstate(under="ignore"):
                return np.exp(self._log_density_data(y / alpha)) / alpha**self.ndim

        out = tensor_rule(grid, density, nodes, weights)
        lo, hi = self._bounding_box()
        if np.all(alpha * lo >= grid.low) and np.all(alpha * hi <= grid.high):
            out *= 1.0 / grid.integrate(out)
        return out

    # ------------------------------------------------------------ hooks
    def _evaluate(self, x: np.ndarray, alpha: float, v: float, mode: int) -> tuple:
        raise NotImplementedError

    def _log_density_data(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _cell_average_exact(self, grid: Grid, alpha: float, v: float) -> np.ndarray | None:
        return None

    def _deposition_nodes(self, alpha: float, grid: Grid) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def _bounding_box(self) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def _sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def _distance(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _nearest(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _mean(self) -> np.ndarray:
        raise NotImplementedError

    def _cov(self) -> np.ndarray:
        raise NotImplementedError

    def _params(self) -> dict[str, Any]:
        raise NotImplementedError

    # ------------------------------------------------------------ description
    def to_dict(self) -> dict[str, Any]:
        """JSON/HDF5-friendly description (lists and floats);
        :func:`distribution_from_dict` inverts it."""
        return {"name": self.name, **self._params(), "smoothing": self.smoothing}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Distribution):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(repr(self.to_dict()))

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self._params().items())
        params_dict = self._params()
        shown = self.smoothing and "spread" not in params_dict
        blur = f", smoothing={self.smoothing!r}" if shown else ""
        return f"{type(self).__name__}({params}{blur})"


def distribution_from_dict(data: dict[str, Any]) -> Distribution:
    """Rebuild a distribution from :meth:`Distribution.to_dict` output."""
    data = dict(data)
    name = data.pop("name", None)
    if name not in _REGISTRY:
        raise ValueError(f"name: expected one of {sorted(_REGISTRY)}, got {name!r}")
    smoothing = data.pop("smoothing", 0.0)
    out = _REGISTRY[name](**data)
    out.smoothing = as_positive(smoothing, "smoothing", allow_zero=True)
    return out

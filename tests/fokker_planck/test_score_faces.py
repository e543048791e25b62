"""Fused score-on-faces coefficients: the same bits as evaluating the score on the
face centres, for every covariance kind, dimension, boundary and scheme."""

import numpy as np
import pytest

import pdediff
from pdediff.distributions import GaussianMixture
from pdediff.fokker_planck import FluxOperator, _score_faces, solve_reverse
from pdediff.fokker_planck.reverse import _face_coefficients
from pdediff.scores import exact

LAWS = {
    1: GaussianMixture([[-1.0], [1.2]], [0.2, 0.3], [0.45, 0.55]),
    2: GaussianMixture([[-1.0, 0.5], [1.0, -0.5]], [0.3, 0.25], [0.5, 0.5]),
    "diagonal": GaussianMixture([[-1.0, 0.5], [1.0, -0.5]], [[0.3, 0.1], [0.2, 0.4]]),
    "full": GaussianMixture([[-1.0, 0.5], [1.0, -0.5]],
                            [[[0.3, 0.1], [0.1, 0.2]], [[0.2, -0.05], [-0.05, 0.4]]]),
    3: GaussianMixture([[-0.5, 0.2, 0.1], [0.6, -0.3, 0.0]], [0.3, 0.2]),
}


@pytest.mark.parametrize("kind", [1, 2, "diagonal", "full", 3])
@pytest.mark.parametrize("bc", ["noflux", "periodic"])
@pytest.mark.parametrize("scheme", ["scharfetter_gummel", "muscl"])
def test_fused_rates_equal_the_generic_path_bit_for_bit(kind, bc, scheme):
    law = LAWS[kind]
    ndim = law.ndim
    grid = pdediff.Grid([(-3.0, 3.0)] * ndim, 7 if ndim == 3 else 15, bc=bc)
    process = pdediff.VP()
    score = exact(law, process)
    fused_op, generic_op = FluxOperator(grid, scheme), FluxOperator(grid, scheme)
    fused = _face_coefficients(fused_op, process, score, 0.5, 1.0)
    generic = _face_coefficients(generic_op, process, lambda x, t: score(x, t), 0.5, 1.0)
    assert _score_faces.compiled(fused_op, process, score, 0.5) is not None
    assert _score_faces.compiled(generic_op, process, lambda x, t: score(x, t), 0.5) is None
    for tau in [0.0, 0.4, 0.97]:
        for scheme_id in (0, 1):
            assert fused(tau, scheme_id) == generic(tau, scheme_id)
            for p in fused_op.layout:
                assert np.array_equal(fused_op._an[p], generic_op._an[p])
                assert np.array_equal(fused_op._bn[p], generic_op._bn[p])
                assert np.any(fused_op._an[p] > 0)


@pytest.mark.parametrize("eps", [0.0, 1.0])
def test_fused_solve_equals_the_generic_solve(eps):
    law = LAWS[2]
    grid = pdediff.Grid([(-4.0, 4.0)] * 2, 24)
    process = pdediff.VP()
    score = exact(law, process)
    q = law.cell_average(grid, 1.0, process)
    a = solve_reverse(q, grid, process, score, [1.0, 0.2], eps=eps, rtol=1e-3)
    b = solve_reverse(q, grid, process, lambda x, t: score(x, t), [1.0, 0.2], eps=eps, rtol=1e-3)
    assert np.array_equal(a.p, b.p)
    assert a.metadata["n_steps"] == b.metadata["n_steps"]



def test_an_operator_with_another_axis_innermost_keeps_the_generic_path():
    """The kernels complete every sum over the axes with the last grid axis, the one
    along their innermost loop (array position 2): an operator whose layout puts
    another axis there gets no fused kernel (and so keeps the generic bits)."""
    grid = pdediff.Grid([(-3.0, 3.0)] * 2, 11)
    process = pdediff.VP()
    score = exact(LAWS[2], process)
    operator = FluxOperator(grid)
    assert operator.layout[-1] == 2
    assert _score_faces.compiled(operator, process, score, 0.5) is not None
    operator.layout = (2, 0)
    assert _score_faces.compiled(operator, process, score, 0.5) is None


@pytest.mark.parametrize("ndim", [2, 3])
def test_tied_components_give_the_generic_bits_and_a_mirror_symmetric_score(ndim):
    """Two mirror-image components (means +-1 on axis 0, equal isotropic covariance and
    weight): on the faces at x_0 = 0 their exponents tie exactly, so both weights are
    the skipped exp(0) = 1.  Claim: the fused rates equal the generic path's bit for
    bit, and the velocity field is exactly mirror-symmetric (the rates of the face at
    x and at its mirror image are swapped copies)."""
    means = np.zeros((2, ndim))
    means[:, 0] = [-1.0, 1.0]
    law = GaussianMixture(means, [0.3, 0.3])
    grid = pdediff.Grid([(-3.0, 3.0)] * ndim, 6 if ndim == 3 else 12)
    process = pdediff.VP()
    score = exact(law, process)
    fused_op, generic_op = FluxOperator(grid), FluxOperator(grid)
    fused = _face_coefficients(fused_op, process, score, 0.5, 1.0)
    generic = _face_coefficients(generic_op, process, lambda x, t: score(x, t), 0.5, 1.0)
    assert fused(0.4, 1) == generic(0.4, 1)  # MUSCL: (A, B) = (v+/h, v-/h)
    for p in fused_op.layout:
        assert np.array_equal(fused_op._an[p], generic_op._an[p])
        assert np.array_equal(fused_op._bn[p], generic_op._bn[p])
    # Mirror x_0 -> -x_0: axis-0 faces reverse along axis 0 with A and B swapped (the
    # normal velocity changes sign); other axes' faces reverse with A, B kept.
    first = fused_op.layout[0]
    a0, b0 = fused_op._an[first], fused_op._bn[first]
    assert np.array_equal(a0, np.flip(b0, axis=first))
    for p in fused_op.layout[1:]:
        assert np.array_equal(fused_op._an[p], np.flip(fused_op._an[p], axis=first))
        assert np.any(fused_op._an[p] > 0)


# ------------------------------------------------------------------ other families
def _spline_model(ndim, reference, seed=0):
    from pdediff.score_model import ScoreModel

    process = pdediff.VP()
    kwargs = {} if reference == "data_gaussian" else {"reference": reference}
    model = ScoreModel(process, bounds=[(-2.5, 2.0)] * ndim, n_space=5 if ndim < 3 else 4,
                       n_time=4, **kwargs)
    model.theta = np.random.default_rng(seed).normal(size=model.theta.shape)
    return model


def _tabulated(grid, inner, process):
    from pdediff.scores import TabulatedScore

    sets = [grid.face_points(axis) for axis in range(grid.ndim)]
    return TabulatedScore(inner, sets, 0.01, process.T, 7)


def _family(name, ndim, grid):
    """(score, exact_bits) of family ``name`` in ``ndim`` dimensions under VP."""
    from pdediff.distributions import Box, Checkerboard, Points
    from pdediff.scores import KernelScore

    process = pdediff.VP()
    rng = np.random.default_rng(1)
    atoms = rng.normal(size=(5, ndim))
    if name == "points":
        return exact(Points(atoms, np.arange(1.0, 6.0) / 15.0), process), True
    if name == "kernel":
        return KernelScore(atoms, 0.3, process), True
    if name == "tabulated":
        return _tabulated(grid, exact(LAWS[ndim], process), process), True
    if name.startswith("spline"):
        return _spline_model(ndim, {"spline": "data_gaussian", "spline-none": None,
                                    "spline-prior": "prior"}[name]), True
    if name == "checkerboard":
        return exact(Checkerboard(), process), False
    return exact(Box([-1.0, -0.5, -0.2][:ndim], [1.2, 0.7, 0.9][:ndim]), process), False


FAMILIES = ["points", "kernel", "tabulated", "spline", "spline-none", "spline-prior", "box"]
# Times tau of the comparisons (T = 1): t = 1, 0.6, 0.03 and, for laws regular at
# t = 0, 0 itself (points need t > 0).
TAUS = {"points": [0.0, 0.4, 0.97]}


def _rates(score, grid, scheme, eps, tau, generic):
    operator = FluxOperator(grid, scheme)
    process = pdediff.VP()
    callable_ = (lambda x, t: score(x, t)) if generic else score
    set_coefficients = _face_coefficients(operator, process, callable_, eps, 1.0)
    diffusion = set_coefficients(tau, operator.scheme_id)
    return diffusion, [(operator._an[p].copy(), operator._bn[p].copy()) for p in operator.layout]


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("ndim", [1, 2, 3])
@pytest.mark.parametrize("bc", ["noflux", "periodic"])
def test_every_family_is_fused_and_exact_families_give_the_generic_bits(family, ndim, bc):
    """Claim: the fused rates of the points, kernel, tabulated and spline scores equal
    the generic path's (score evaluated on the face centres) bit for bit, for both
    schemes, every dimension and boundary; the dispatch picks the fused kernel for
    them and not for a plain callable."""
    grid = pdediff.Grid([(-3.0, 3.0)] * ndim, 5 if ndim == 3 else 11, bc=bc)
    score, exact_bits = _family(family, ndim, grid)
    process = pdediff.VP()
    assert _score_faces.compiled(FluxOperator(grid), process, score, 0.5) is not None
    assert _score_faces.compiled(FluxOperator(grid), process, lambda x, t: score(x, t),
                                 0.5) is None
    if not exact_bits:
        return
    for scheme in ("scharfetter_gummel", "muscl"):
        for tau in TAUS.get(family, [0.0, 0.4, 0.97, 1.0]):
            d_fused, fused = _rates(score, grid, scheme, 0.5, tau, False)
            d_generic, generic = _rates(score, grid, scheme, 0.5, tau, True)
            assert d_fused == d_generic
            for (fa, fb), (ga, gb) in zip(fused, generic, strict=True):
                assert np.array_equal(fa, ga) and np.array_equal(fb, gb)
                assert np.any(fa > 0)


def test_tabulated_score_off_the_face_points_keeps_the_generic_path():
    grid = pdediff.Grid([(-3.0, 3.0)] * 2, 11)
    other = pdediff.Grid([(-3.0, 3.0)] * 2, 12)
    process = pdediff.VP()
    score = _tabulated(other, exact(LAWS[2], process), process)
    assert _score_faces.compiled(FluxOperator(grid), process, score, 0.5) is None
    assert _score_faces.compiled(FluxOperator(other), process, score, 0.5) is not None


def _velocity(rates, spacing):
    # With eps = 0 the rates are the upwind pair (v^+/h, v^-/h): one of them is 0, so
    # v = h (A - B) up to the rounding of v^+ / h and of the product (relative 2 u).
    return [h * (a - b) for (a, b), h in zip(rates, spacing, strict=True)]


@pytest.mark.parametrize("law", ["box", "checkerboard"])
@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_box_scores_match_the_generic_path_to_rounding(law, ndim):
    """Claim: the fused box-mixture score equals scipy's (the generic path) to
    rounding.  They cannot agree bit for bit: the generic path's ``log_ndtr``,
    ``ndtr``, ``erfcx`` are scipy's Cephes / Faddeeva codes, the kernel's are built on
    libm (a few ulps apart per call), and ``A_l - A_u`` cancels inside a box.
    Criterion: with eps = 0 (rates ``v^+/h, v^-/h``, so the velocity is recovered
    exactly) the score difference ``|dv| / score_c`` is at most ``512 u max|s|`` at
    every time, ``u`` the unit roundoff.  The velocity itself is not the scale:
    at ``t = T`` the drift ``-a x`` and ``g^2 s / 2`` nearly cancel for VP."""
    if law == "checkerboard" and ndim != 2:
        pytest.skip("the checkerboard is 2-D")
    grid = pdediff.Grid([(-3.0, 3.0)] * ndim, 5 if ndim == 3 else 15)
    score, _ = _family(law, ndim, grid)
    process = pdediff.VP()
    for tau in [0.0, 0.4, 0.97, 0.999]:
        t = 1.0 - tau
        score_c = 0.5 * float(process.g2(t))
        _, fused = _rates(score, grid, "muscl", 0.0, tau, False)
        _, generic = _rates(score, grid, "muscl", 0.0, tau, True)
        scale = max(float(np.max(np.abs(score(grid.face_points(d), t)[..., d])))
                    for d in range(ndim))
        for d, (vf, vg) in enumerate(zip(_velocity(fused, grid.spacing),
                                         _velocity(generic, grid.spacing), strict=True)):
            worst = float(np.max(np.abs(vf - vg))) / score_c
            assert worst <= 512 * np.finfo(float).eps / 2 * scale, (tau, d, worst / scale)


@pytest.mark.parametrize("ndim", [1, 2])
def test_fused_box_score_is_at_least_as_accurate_as_the_generic_one(ndim):
    """Claim: against a 40-digit evaluation of the box score ``(phi(l) - phi(u)) /
    (sqrt(v) (Phi(u) - Phi(l)))`` (mpmath), the fused score's error is no larger than
    the generic (scipy) path's, or within 16 u of max|s|, at t = 1 and 0.6 (where
    ``A_l - A_u`` cancels most).  Measured: fused 90-120 u, generic 175-505 u of
    max|s| at t = 1 (the formula's own cancellation, the same in both)."""
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 40
    grid = pdediff.Grid([(-3.0, 3.0)] * ndim, 15)
    score, _ = _family("box", ndim, grid)
    box, process = score.dist, pdediff.VP()
    u = np.finfo(float).eps / 2
    for tau in [0.0, 0.4]:
        t = 1.0 - tau
        score_c, a = 0.5 * float(process.g2(t)), float(process.a(t))
        alpha, v = box._coefficients(t, process)
        root = mpmath.sqrt(v)

        def reference(x, d, alpha=alpha, root=root):
            hi = (alpha * mpmath.mpf(box.highs[0, d]) - x) / root
            lo = (alpha * mpmath.mpf(box.lows[0, d]) - x) / root
            mass = (mpmath.erfc(lo / mpmath.sqrt(2)) - mpmath.erfc(hi / mpmath.sqrt(2))) / 2
            return float((mpmath.npdf(lo) - mpmath.npdf(hi)) / (root * mass))

        _, fused = _rates(score, grid, "muscl", 0.0, tau, False)
        errors, scale = [0.0, 0.0], 0.0
        for d, velocity in enumerate(_velocity(fused, grid.spacing)):
            points = grid.face_points(d).reshape(-1, ndim)
            inner = (points[:, d] > -3.0) & (points[:, d] < 3.0)  # walls carry no rate
            points = points[inner]
            s_fused = (velocity.ravel()[inner] + a * points[:, d]) / score_c
            s_generic = score(points, t)[:, d]
            exact_s = np.array([reference(x, d) for x in points[:, d]])
            scale = max(scale, float(np.max(np.abs(exact_s))))
            errors[0] = max(errors[0], float(np.max(np.abs(s_fused - exact_s))))
            errors[1] = max(errors[1], float(np.max(np.abs(s_generic - exact_s))))
        assert errors[0] <= max(errors[1], 16 * u * scale), (tau, errors, scale)


@pytest.mark.parametrize("family", ["points", "kernel", "tabulated", "spline", "box"])
def test_fused_solve_of_every_family_equals_the_generic_solve(family):
    """A short adaptive solve_reverse (eps = 1) with the fused path gives the generic
    path's bits and step count (boxes: agree to 1e-12 of max q, the same step count)."""
    grid = pdediff.Grid([(-4.0, 4.0)] * 2, 16)
    process = pdediff.VP()
    score, exact_bits = _family(family, 2, grid)
    q = LAWS[2].cell_average(grid, 1.0, process)
    a = solve_reverse(q, grid, process, score, [1.0, 0.3], eps=1.0, rtol=1e-3)
    b = solve_reverse(q, grid, process, lambda x, t: score(x, t), [1.0, 0.3], eps=1.0,
                      rtol=1e-3)
    assert a.metadata["n_steps"] == b.metadata["n_steps"]
    if exact_bits:
        assert np.array_equal(a.p, b.p)
    else:
        assert np.max(np.abs(a.p - b.p)) <= 1e-12 * np.max(b.p)


_THREADS = r"""
import hashlib, json, sys
import numba
sys.path.insert(0, "tests/fokker_planck")
import pdediff
from test_score_faces import FAMILIES, _family, _rates
out = {}
for threads in (1, numba.config.NUMBA_NUM_THREADS):
    numba.set_num_threads(threads)
    digest = hashlib.sha256()
    for family in FAMILIES + ["mixture"]:
        grid = pdediff.Grid([(-3.0, 3.0)] * 2, 33, bc="periodic")
        if family == "mixture":
            from test_score_faces import LAWS
            from pdediff.scores import exact
            score = exact(LAWS["full"], pdediff.VP())
        else:
            score = _family(family, 2, grid)[0]
        for scheme in ("scharfetter_gummel", "muscl"):
            for a, b in _rates(score, grid, scheme, 0.5, 0.4, False)[1]:
                digest.update(a.tobytes())
                digest.update(b.tobytes())
    out[threads] = digest.hexdigest()
print(json.dumps(out))
"""


def test_fused_rates_are_bit_identical_for_one_and_two_threads():
    """Every family's fused rates hash the same with 1 and 2 numba threads (a child
    process started with NUMBA_NUM_THREADS=2 switching between the two)."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, NUMBA_NUM_THREADS="2", OMP_WAIT_POLICY="passive",
               PYTHONPATH=str(root))
    done = subprocess.run([sys.executable, "-c", _THREADS], env=env, cwd=root,
                          capture_output=True, text=True, timeout=900, check=True)
    hashes = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(hashes) == {"1", "2"}
    assert hashes["1"] == hashes["2"]


def test_each_face_kernel_is_compiled_once_for_every_dimension_and_family():
    """Solves in 1, 2 and 3 dimensions, every family, both boundaries: each kernel
    entry point has one compiled signature (no recompilation per solve or shape)."""
    from pdediff.fokker_planck import _face_score_kernels

    process = pdediff.VP()
    for ndim in (1, 2, 3):
        for bc in ("noflux", "periodic"):
            grid = pdediff.Grid([(-4.0, 4.0)] * ndim, 6, bc=bc)
            q = LAWS[ndim].cell_average(grid, 1.0, process)
            for family in ["points", "tabulated", "spline", "box"]:
                score, _ = _family(family, ndim, grid)
                solve_reverse(q, grid, process, score, [1.0, 0.6], eps=1.0, rtol=1e-2)
            solve_reverse(q, grid, process, exact(LAWS[ndim], process), [1.0, 0.6], eps=1.0,
                          rtol=1e-2)
    for kernel in _face_score_kernels.FACE_KERNELS.values():
        assert len(kernel.signatures) == 1


_INNER_CALLS = r"""
import json, re
import pdediff
from pdediff.distributions import GaussianMixture
from pdediff.fokker_planck import FluxOperator, _score_faces
from pdediff.fokker_planck import _face_score_kernels as kernels
from pdediff.scores import exact
grid = pdediff.Grid([(-4.0, 4.0)] * 2, 8)
process = pdediff.OU()
law = GaussianMixture([[-1.0, -0.5], [1.0, 0.8]], [0.1, 0.2])
operator = FluxOperator(grid)
_score_faces.compiled(operator, process, exact(law, process), 1.0)(0.5, 0)
kernel = kernels._mixture_faces
llvm = kernel.inspect_llvm(kernel.signatures[0])
# the parallel loop body: the parfor function itself, not its __gufunc__ wrapper
bodies = re.findall(r"^define linkonce_odr[^\n]*numba_parfor_gufunc.*?^}", llvm, re.M | re.S)
calls = sorted({name for body in bodies for name in re.findall(r"call [^@]*@([\w.$]+)", body)})
print(json.dumps({"bodies": len(bodies), "calls": calls}))
"""


@pytest.mark.slow
def test_the_mixture_face_loop_calls_no_compiled_function():
    """Performance guard (the cause of a 2.2x slower mixture face loop): every
    evaluator is inlined into the parallel face loop, which calls only libm (``exp``,
    ``expm1``), LLVM intrinsics and the runtime's allocation and reference counting
    of the per-row work arrays, never a compiled pdediff function (an out-of-line call
    passes every array as its seven fields).  Compiled afresh in a child process (an
    empty cache directory: numba does not show the code of cached functions)."""
    import json
    import os
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache, NUMBA_NUM_THREADS="1",
                   OMP_WAIT_POLICY="passive", PYTHONPATH=str(root))
        done = subprocess.run([sys.executable, "-c", _INNER_CALLS], env=env, cwd=root,
                              capture_output=True, text=True, timeout=900, check=True)
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["bodies"] == 1
    allowed = {"exp", "expm1", "NRT_MemInfo_alloc_aligned", "NRT_incref", "NRT_decref",
               "NRT_Free"}
    unexpected = [c for c in found["calls"] if c not in allowed and not c.startswith("llvm.")]
    assert unexpected == [], unexpected
    assert "expm1" in found["calls"]

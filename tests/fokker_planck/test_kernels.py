"""The fused stage kernel: positivity by construction, consistency with the operator,
separable and field coefficients agreeing bit for bit, mass, the embedded error
estimate, and bit-identical solves for 1 and 2 numba threads."""

import math
from pathlib import Path

import numpy as np
import pytest

import pdediff
from pdediff.fokker_planck import FluxOperator
from tests.fokker_planck._helpers import run_with_threads

SCHEMES = ["scharfetter_gummel", "muscl"]
ROOT = Path(__file__).resolve().parents[2]


def _random_problem(rng, ndim, bc, scheme, n=12):
    """Data spanning 1e-300..1 with empty cells and rough velocities: the hard case
    for positivity (a tiny cell whose own outflow nearly empties it)."""
    grid = pdediff.Grid([(-2.0, 2.0)] * ndim, n, bc=bc)
    op = FluxOperator(grid, scheme)
    for axis in range(ndim):
        op.velocity[axis][...] = rng.normal(size=op.face_shapes[axis]) * 5.0
    u = 10.0 ** rng.uniform(-300, 0, size=grid.shape)
    u[rng.random(grid.shape) < 0.3] = 0.0
    return grid, op, u.reshape(op.shape3), float(10 ** rng.uniform(-3, 0))


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("ndim, bc", [(1, "noflux"), (1, "periodic"), (2, "noflux"),
                                      (2, "periodic"), (3, "noflux")])
def test_stage_at_the_positivity_limit_is_never_negative(scheme, ndim, bc):
    """Claim: for u >= 0 and dt = 1 / max_i c_i (the positivity limit itself) every
    SSP stage out = alpha u0 + beta (u + dt L u) is >= 0, exactly (not to round-off).
    The former evaluation u + dt * L u failed this for Scharfetter–Gummel (27 of 300
    random 1-D cases, down to -1.6e-27): cancellation of a tiny u_i against its own
    outflow when dt c_i = 1; that is how a reverse solve produced -3.7e-60."""
    rng = np.random.default_rng(11)
    for _ in range(40 if ndim < 3 else 10):
        grid, op, u3, diffusion = _random_problem(rng, ndim, bc, scheme, 12 if ndim < 3 else 6)
        rate = op.rhs(u3, diffusion)
        dt = 1.0 / rate
        assert dt * rate <= 1.0  # the stepper's acceptance test
        out = np.empty_like(u3)
        for alpha, beta in [(0.0, 1.0), (0.75, 0.25), (1.0 / 3.0, 2.0 / 3.0), (0.5, 0.5)]:
            u0 = 10.0 ** rng.uniform(-300, 0, size=u3.shape) * (rng.random(u3.shape) < 0.5)
            op.prepare(diffusion)
            _, smallest, _, _ = op.stage(u3, u0, out, alpha, beta, dt)
            assert out.min() >= 0.0
            assert smallest == out.min()


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("ndim, bc", [(1, "periodic"), (2, "noflux"), (3, "periodic")])
def test_stage_equals_the_operator_combination_and_conserves_mass(scheme, ndim, bc):
    rng = np.random.default_rng(5)
    grid = pdediff.Grid([(-2.0, 2.0)] * ndim, 9 if ndim == 3 else 17, bc=bc)
    op = FluxOperator(grid, scheme)
    for axis in range(ndim):
        op.velocity[axis][...] = rng.normal(size=op.face_shapes[axis])
    u = rng.random(op.shape3)
    u0 = rng.random(op.shape3)
    rate = op.rhs(u, 0.3)
    du = op.du.copy()
    dt = 0.8 / rate
    out = np.empty_like(u)
    op.prepare(0.3)
    got_rate, smallest, total, _ = op.stage(u, u0, out, 0.25, 0.75, dt)
    expected = 0.25 * u0 + 0.75 * (u + dt * du)
    assert got_rate == rate
    np.testing.assert_allclose(out, expected, rtol=1e-13, atol=1e-15)
    assert smallest == out.min()
    # Fixed-order block sums: equal to the exact mass to round-off.
    assert abs(total - float(np.sum(out))) <= 1e-14 * total
    np.testing.assert_allclose(total, 0.25 * u0.sum() + 0.75 * u.sum(), rtol=1e-13)


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_separable_coefficients_match_the_field_path_bit_for_bit(scheme, ndim):
    """A linear drift stored as 1-D coefficient arrays gives the same bits as the same
    velocity written into full face arrays, and the same rate and minimum.  The mass
    sums are tallied in each path's own vectorised loop, so their order of summation
    (not their terms) may differ: each must be a float sum of the same values in some
    order, within the worst-case bound ``(n - 1) eps sum|x|`` of the exact sum."""
    grid = pdediff.Grid([(-3.0, 3.0)] * ndim, 8 if ndim == 3 else 20, bc="noflux")
    u = np.random.default_rng(2).random(grid.shape)
    results = []
    for separable in (True, False):
        op = FluxOperator(grid, scheme)
        op.set_linear_velocity(-0.7)
        if not separable:
            _ = op.velocity  # materialises v = -0.7 x on the faces
        assert op._separable is separable
        op.prepare(0.4)
        out = np.empty(op.shape3)
        stats = op.stage(u.reshape(op.shape3), u.reshape(op.shape3), out, 0.0, 1.0, 1e-3)
        results.append((out.copy(), stats))
    assert np.array_equal(results[0][0], results[1][0])
    (rate_s, min_s, sum_s, _), (rate_f, min_f, sum_f, _) = results[0][1], results[1][1]
    assert (rate_s, min_s) == (rate_f, min_f)
    values = results[0][0].ravel()
    exact = math.fsum(values)
    bound = (values.size - 1) * np.finfo(float).eps * math.fsum(np.abs(values))
    assert abs(sum_s - exact) <= bound and abs(sum_f - exact) <= bound


def test_fused_embedded_error_equals_the_explicit_estimate():
    """SSPRK3: the fused estimate with e = 2 u2 - u equals the RMS of
    (u_new - Heun) / (atol + rtol max(|u|, |u_new|)) computed from separate arrays."""
    grid = pdediff.Grid([(-2.0, 2.0)] * 2, 16)
    op = FluxOperator(grid)
    op.set_linear_velocity(-1.0)
    u = np.random.default_rng(4).random(op.shape3) + 0.1
    op.prepare(0.5)
    rate = op.stage(u, u, np.empty_like(u), 0.0, 1.0, 0.0, rhs_only=True)[0]
    dt = 0.5 / rate
    u1, u2, new = (np.empty_like(u) for _ in range(3))
    op.stage(u, u, u1, 0.0, 1.0, dt)
    op.stage(u1, u, u2, 0.75, 0.25, dt)
    atol, rtol = 1e-6, 1e-4
    error_sum = op.stage(u2, u, new, 1 / 3, 2 / 3, dt, (2.0, -1.0, atol, rtol))[3]
    heun = np.empty_like(u)
    op.stage(u1, u, heun, 0.5, 0.5, dt)
    reference = op.error_norm(u, new, heun, atol, rtol)
    assert reference > 1e-3  # the estimate is not trivially zero
    np.testing.assert_allclose(np.sqrt(error_sum / u.size), reference, rtol=1e-6)


_DETERMINISM = r"""
import hashlib, json, numpy as np, pdediff
from pdediff.distributions import GaussianMixture
from pdediff.scores import exact
from pdediff.fokker_planck import solve_forward, solve_reverse
law = GaussianMixture([[-0.8, 0.3], [0.9, -0.5]], [0.2, 0.3], [0.4, 0.6])
out = {}
grid = pdediff.Grid([(-4.0, 4.0), (-4.0, 4.0)], (40, 36), bc=["noflux", "periodic"])
p0 = law.cell_average(grid)
for method in ["euler", "ssprk2", "ssprk3", "auto"]:
    s = solve_forward(p0, grid, pdediff.OU(), [0.0, 0.05, 0.3], method=method, rtol=1e-5)
    out["forward " + method] = [hashlib.sha256(s.p.tobytes()).hexdigest(), s.metadata["n_steps"]]
grid3 = pdediff.Grid([(-3.0, 3.0)] * 3, 10)
s = solve_forward(law.__class__([[0.2, 0.0, -0.1]], [0.3]).cell_average(grid3), grid3,
                  pdediff.VP(), [0.0, 0.2], method="ssprk3", rtol=1e-4)
out["forward 3d"] = [hashlib.sha256(s.p.tobytes()).hexdigest(), s.metadata["n_steps"]]
grid = pdediff.Grid([(-4.0, 4.0)] * 2, 32)
process = pdediff.VP()
q = law.cell_average(grid, 1.0, process)
for eps in [0.0, 1.0]:
    s = solve_reverse(q, grid, process, exact(law, process), [1.0, 0.3, 0.02], eps=eps,
                      rtol=1e-3)
    out[f"reverse eps={eps}"] = [hashlib.sha256(s.p.tobytes()).hexdigest(),
                                 s.metadata["n_steps"], s.metadata["n_implicit"]]
print(json.dumps(out))
"""




@pytest.mark.slow
def test_solves_are_bit_identical_for_one_and_two_threads():
    """solve_forward (Euler, SSPRK2, SSPRK3 adaptive, auto; 2-D mixed walls and 3-D)
    and solve_reverse (eps = 0 MUSCL and eps = 1 Scharfetter–Gummel with implicit
    phases) give the same bits and step counts with NUMBA_NUM_THREADS = 1 and 2."""
    one = run_with_threads(_DETERMINISM, 1)
    two = run_with_threads(_DETERMINISM, 2)
    assert one == two
    assert any(v[2] > 0 for k, v in one.items() if k.startswith("reverse"))


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("ndim, bc, linear", [(1, "periodic", False), (2, "noflux", True),
                                              (2, "periodic", False), (3, "noflux", True)])
def test_stage_bits_do_not_depend_on_the_grouping_of_blocks(monkeypatch, scheme, ndim, bc,
                                                            linear):
    """Claim: the stage groups its fixed reduction blocks into one call per thread;
    values and all four reductions (embedded error included) are the same bits for
    any number of groups, from one to more than there are blocks."""
    from pdediff.fokker_planck import operator as operator_module

    rng = np.random.default_rng(5)
    grid, op, u, dt = _random_problem(rng, ndim, bc, scheme, n=10 if ndim == 3 else 70)
    if linear:
        op.set_linear_velocity(-0.9)
    op.prepare(0.3)
    u0 = rng.random(u.shape)
    results = []
    for threads in (1, 2, 3, 7, 64, 1000):
        monkeypatch.setattr(operator_module.numba, "get_num_threads", lambda t=threads: t)
        out = np.full(op.shape3, np.nan)
        stats = op.stage(u, u0, out, 0.25, 0.75, 1e-4, error=(2.0, -1.0, 1e-6, 1e-3))
        results.append((out, stats))
    for out, stats in results[1:]:
        assert np.array_equal(out, results[0][0])
        assert stats == results[0][1]
    assert np.isfinite(results[0][1][3]) and results[0][1][3] > 0


def test_stage_refuses_an_output_that_overlaps_its_inputs():
    """The fused kernels are compiled on the promise that ``out`` never overlaps what
    they read; the entry points check it rather than compute garbage."""
    grid = pdediff.Grid([(-2.0, 2.0)] * 2, 8)
    op = FluxOperator(grid)
    op.set_linear_velocity(-1.0)
    op.prepare(0.5)
    u = np.full(op.shape3, 1.0 / grid.size)
    u0 = u.copy()
    with pytest.raises(ValueError, match=r"^out: must not overlap u3"):
        op.stage(u, u0, u, 0.0, 1.0, 1e-3)
    with pytest.raises(ValueError, match=r"^out: must not overlap u0"):
        op.stage(u, u0, u0[:, :, :], 0.5, 0.5, 1e-3)
    fields = (u, np.empty_like(u), np.empty_like(u), u)
    with pytest.raises(ValueError, match=r"^u: must not overlap stage2"):
        op.linear_steps(fields, 0, np.full(2, 1e-3), np.full(2, -1.0), np.full(2, 0.5),
                        1.0, np.zeros(5))
    np.testing.assert_array_equal(u, u0)  # refused before anything was written

"""The compiled multi-step loop of fixed-step explicit forward solves
(``pdediff.fokker_planck._multistep``) against the per-step Python stepper
(``StepperOptions(multistep=False)``): equal bits of every snapshot, equal
statistics, equal error messages, and equal bits for 1 and 2 numba threads."""

import functools
from pathlib import Path

import pytest

import pdediff
from pdediff.distributions import GaussianMixture
from pdediff.fokker_planck import _multistep, stepping
from pdediff.fokker_planck import forward as forward_module
from pdediff.fokker_planck.stepping import SolverError, StepperOptions
from tests.fokker_planck._helpers import BrokenProcess, run_with_threads

ROOT = Path(__file__).resolve().parents[2]
MEANS = [[-0.8, 0.3, 0.1], [0.9, -0.5, -0.2]]


def _law(ndim):
    return GaussianMixture([m[:ndim] for m in MEANS], [0.3, 0.4], [0.4, 0.6])


def _solve(multistep, monkeypatch, p0, grid, process, times, **kwargs):
    """``solve_forward`` with the compiled loop on or off."""
    with monkeypatch.context() as patch:
        patch.setattr(forward_module, "StepperOptions",
                      functools.partial(StepperOptions, multistep=multistep))
        return forward_module.solve_forward(p0, grid, process, times, **kwargs)


def _statistics(solution):
    return {k: v for k, v in solution.metadata.items() if k != "wall_time"}


def _both(monkeypatch, *args, **kwargs):
    loop = _solve(True, monkeypatch, *args, **kwargs)
    per_step = _solve(False, monkeypatch, *args, **kwargs)
    return loop, per_step


CASES = [(1, "noflux", 24), (1, "periodic", 24), (2, "noflux", (16, 12)),
         (2, ["periodic", "noflux"], (12, 16)), (3, "noflux", 8), (3, "periodic", 6)]


@pytest.mark.parametrize("scheme", ["scharfetter_gummel", "muscl"])
@pytest.mark.parametrize("process", [pdediff.OU(), pdediff.VP()], ids=["ou", "vp"])
@pytest.mark.parametrize("method", ["euler", "ssprk2", "ssprk3"])
@pytest.mark.parametrize("ndim, bc, cells", CASES)
def test_loop_equals_the_per_step_path_bit_for_bit(ndim, bc, cells, method, process, scheme,
                                                   monkeypatch):
    """Claim: the compiled loop and the per-step path give the same bits in every
    snapshot and the same statistics (steps, stages, min density, mass error).
    Output times that are not multiples of dt make the last step of each interval
    a short one; VP's coefficients change at every stage."""
    grid = pdediff.Grid([(-3.0, 3.0)] * ndim, cells, bc=bc)
    p0 = _law(ndim).cell_average(grid)
    h = float(min(grid.spacing))
    dt = 0.2 * h * h / (2 * ndim * 0.5 * 20.0)  # inside VP's positivity limit at t = 1
    times = [0.0, 7.5 * dt, 13.0 * dt, 13.25 * dt, 30.0 * dt]
    loop, per_step = _both(monkeypatch, p0, grid, process, times, method=method, dt=dt,
                           scheme=scheme)
    assert loop.p.tobytes() == per_step.p.tobytes()
    assert _statistics(loop) == _statistics(per_step)
    assert loop.metadata["n_steps"] == 32  # 8 + 6 + 1 + 17: each interval ends short
    assert loop.metadata["n_rhs"] == 32 * _multistep.STAGES[stepping.MULTISTEP_METHODS[method]]


@pytest.mark.parametrize("process", [pdediff.SubVP(), pdediff.VE(sigma_max=3.0),
                                     pdediff.HeatFlow()], ids=["subvp", "ve", "heat"])
def test_loop_equals_the_per_step_path_for_the_other_processes(process, monkeypatch):
    """The vectorised coefficients (exp, expm1 of arrays) equal the per-stage scalar
    ones bit for bit: same snapshots and statistics."""
    grid = pdediff.Grid([(-3.0, 3.0)] * 2, 16)
    p0 = _law(2).cell_average(grid)
    loop, per_step = _both(monkeypatch, p0, grid, process, [0.0, 0.01, 0.03], method="ssprk3",
                           dt=1e-3)
    assert loop.p.tobytes() == per_step.p.tobytes()
    assert _statistics(loop) == _statistics(per_step)


def test_auto_with_a_fixed_step_is_the_loop_and_equals_the_per_step_path(monkeypatch):
    """``method="auto"`` with ``dt`` never leaves explicit SSPRK3 (a fixed step
    exceeding the positivity limit is an error, not a switch): it takes the loop and
    gives the per-step path's bits."""
    grid = pdediff.Grid([(-3.0, 3.0)] * 2, 16)
    p0 = _law(2).cell_average(grid)
    loop, per_step = _both(monkeypatch, p0, grid, pdediff.VP(), [0.0, 0.01, 0.02],
                           method="auto", dt=1e-3)
    ssprk3 = _solve(True, monkeypatch, p0, grid, pdediff.VP(), [0.0, 0.01, 0.02],
                    method="ssprk3", dt=1e-3)
    assert loop.p.tobytes() == per_step.p.tobytes() == ssprk3.p.tobytes()
    assert _statistics(loop) == _statistics(per_step)
    assert loop.metadata["n_implicit"] == 0


def test_the_loop_is_the_path_taken(monkeypatch):
    """Claim: a fixed-dt Euler/SSPRK solve runs no per-step Python stage.  With
    Integrator.explicit_step broken, the loop path still solves and the per-step
    path fails (so the equality tests above compare two different paths)."""
    grid = pdediff.Grid([(-3.0, 3.0)], 16)
    p0 = _law(1).cell_average(grid)

    def broken(*args, **kwargs):
        raise AssertionError("per-step stage called")

    monkeypatch.setattr(stepping.Integrator, "explicit_step", broken)
    for method in ["euler", "ssprk2", "ssprk3", "auto"]:
        forward_module.solve_forward(p0, grid, pdediff.OU(), [0.0, 0.01], method=method,
                                     dt=1e-3)
    with pytest.raises(AssertionError, match="per-step stage called"):
        _solve(False, monkeypatch, p0, grid, pdediff.OU(), [0.0, 0.01], method="euler",
               dt=1e-3)



def _message(monkeypatch, multistep, *args, **kwargs):
    with pytest.raises(SolverError) as info:
        _solve(multistep, monkeypatch, *args, **kwargs)
    return str(info.value)


@pytest.mark.parametrize("method", ["euler", "ssprk2", "ssprk3"])
def test_nan_stops_with_the_same_message(method, monkeypatch):
    """A NaN drift at t > 0.05: both paths stop at the same stage of the same step,
    naming the same time, step and cell."""
    grid = pdediff.Grid([(-3.0, 3.0)], 16)
    args = (_law(1).cell_average(grid), grid, BrokenProcess(), [0.0, 0.02, 0.1])
    loop = _message(monkeypatch, True, *args, method=method, dt=0.003)
    per_step = _message(monkeypatch, False, *args, method=method, dt=0.003)
    assert loop == per_step
    # Euler meets the NaN at the start of step 17 (t = 0.02 + 10 dt), the SSP
    # methods at their second stage (tau + dt) of step 16.
    assert "non-finite" in loop and f"(step {17 if method == 'euler' else 16})" in loop


@pytest.mark.parametrize("method", ["euler", "ssprk3"])
def test_positivity_violation_mid_run_gives_the_same_message(method, monkeypatch):
    """VE's diffusion grows like e^(2 t log(sigma_max/sigma_min)): a fixed dt inside
    the positivity limit at t = 0 leaves it at a later step, the same one on both
    paths, with the same time, step and limit in the message."""
    grid = pdediff.Grid([(-3.0, 3.0)], 32)
    args = (_law(1).cell_average(grid), grid, pdediff.VE(sigma_min=0.5, sigma_max=20.0),
            [0.0, 0.3, 1.0])
    loop = _message(monkeypatch, True, *args, method=method, dt=0.002)
    per_step = _message(monkeypatch, False, *args, method=method, dt=0.002)
    assert loop == per_step
    assert "positivity limit" in loop and "(step 0)" not in loop


def test_positivity_violation_at_the_first_step(monkeypatch):
    grid = pdediff.Grid([(-3.0, 3.0)], 64)
    args = (_law(1).cell_average(grid), grid, pdediff.HeatFlow(), [0, 0.1])
    loop = _message(monkeypatch, True, *args, method="ssprk3", dt=0.05)
    assert loop == _message(monkeypatch, False, *args, method="ssprk3", dt=0.05)
    assert "(step 0)" in loop


def test_max_steps_gives_the_same_message(monkeypatch):
    grid = pdediff.Grid([(-3.0, 3.0)], 16)
    args = (_law(1).cell_average(grid), grid, pdediff.OU(), [0.0, 0.05, 0.1])
    loop = _message(monkeypatch, True, *args, method="euler", dt=0.001, max_steps=70)
    assert loop == _message(monkeypatch, False, *args, method="euler", dt=0.001, max_steps=70)
    assert "max_steps=70" in loop


def test_progress_bar_and_chunks_keep_the_bits(monkeypatch, capsys):
    """progress=True splits the run into chunks of 64 steps (updating the bar per
    chunk); the bits equal the unsplit run's and the per-step path's."""
    grid = pdediff.Grid([(-3.0, 3.0)] * 2, 12)
    p0 = _law(2).cell_average(grid)
    times = [0.0, 0.15]
    plain = _solve(True, monkeypatch, p0, grid, pdediff.VP(), times, method="ssprk2", dt=1e-3)
    shown = _solve(True, monkeypatch, p0, grid, pdediff.VP(), times, method="ssprk2", dt=1e-3,
                   progress=True)
    per_step = _solve(False, monkeypatch, p0, grid, pdediff.VP(), times, method="ssprk2",
                      dt=1e-3, progress=True)
    assert plain.metadata["n_steps"] == 150 > stepping._CHUNK_PROGRESS
    assert plain.p.tobytes() == shown.p.tobytes() == per_step.p.tobytes()
    assert "forward vp" in capsys.readouterr().err


def test_repeated_loop_solves_do_not_recompile():
    grid = pdediff.Grid([(-3.0, 3.0)], 16)
    p0 = _law(1).cell_average(grid)
    forward_module.solve_forward(p0, grid, pdediff.OU(), [0.0, 0.01], method="euler", dt=1e-3)
    before = len(_multistep.linear_steps.signatures)
    forward_module.solve_forward(p0 * 2, grid, pdediff.VP(), [0.0, 0.02], method="ssprk3",
                                 dt=1e-3, scheme="muscl")
    assert len(_multistep.linear_steps.signatures) == before == 1


def test_multistep_option_must_be_a_bool():
    with pytest.raises(TypeError, match="multistep"):
        StepperOptions(multistep="yes").validated()


_THREADS = r"""
import hashlib, json, pdediff
from pdediff.distributions import GaussianMixture
from pdediff.fokker_planck import solve_forward
out = {}
law = GaussianMixture([[-0.8, 0.3], [0.9, -0.5]], [0.2, 0.3], [0.4, 0.6])
grid = pdediff.Grid([(-4.0, 4.0), (-4.0, 4.0)], (64, 72), bc=["noflux", "periodic"])
p0 = law.cell_average(grid)
for method in ["euler", "ssprk2", "ssprk3"]:
    for scheme in ["scharfetter_gummel", "muscl"]:
        s = solve_forward(p0, grid, pdediff.VP(), [0.0, 0.01, 0.025], method=method, dt=2e-4,
                          scheme=scheme)
        out[method + " " + scheme] = [hashlib.sha256(s.p.tobytes()).hexdigest(),
                                      s.metadata["max_mass_error"], s.metadata["min_density"]]
law3 = GaussianMixture([[0.2, 0.0, -0.1]], [0.5])
grid3 = pdediff.Grid([(-3.0, 3.0)] * 3, 16)
s = solve_forward(law3.cell_average(grid3), grid3, pdediff.OU(), [0.0, 0.02], method="ssprk3",
                  dt=1e-3)
out["3d"] = [hashlib.sha256(s.p.tobytes()).hexdigest(), s.metadata["max_mass_error"]]
print(json.dumps(out))
"""




@pytest.mark.slow
def test_loop_solves_are_bit_identical_for_one_and_two_threads():
    """The compiled loop (Euler, SSPRK2, SSPRK3; Scharfetter–Gummel and MUSCL; 2-D
    mixed walls and 3-D) gives the same bits with NUMBA_NUM_THREADS = 1 and 2."""
    one = run_with_threads(_THREADS, 1)
    two = run_with_threads(_THREADS, 2)
    assert one == two
    assert len(one) == 7


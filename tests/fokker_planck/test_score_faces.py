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

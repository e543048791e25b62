"""TabulatedScore (pdediff.scores.tabulated): exact for fields linear in log t, passes
unregistered points through, validates its arguments.  (Its convergence order is
tested with the ode_sde_gap study, which uses it.)"""

from __future__ import annotations

import numpy as np
import pytest

from pdediff import Grid
from pdediff.scores import TabulatedScore
from pdediff.studies.ode_sde_gap import _solves


def test_the_study_uses_this_class():
    assert _solves.TabulatedScore is TabulatedScore


def test_linear_in_log_t_is_reproduced_and_other_points_pass_through():
    points = Grid([(-1.0, 1.0)] * 2, 4).face_points(1)

    def field(x, t):
        return x * (2.0 - np.log(t))

    table = TabulatedScore(field, [points], 1e-3, 5.0, 8)
    for t in (1e-3, 0.02, 0.7, 5.0, 9.0):  # 9.0: clamped to the last node
        expected = field(points, min(t, 5.0))
        assert np.allclose(table(points, t), expected, rtol=1e-13, atol=1e-13)
    other = points[:1] + 0.5
    assert np.array_equal(table(other, 0.3), field(other, 0.3))


def test_bad_arguments():
    points = np.zeros((3, 2))
    with pytest.raises(TypeError, match="score"):
        TabulatedScore(None, [points], 0.1, 1.0, 4)
    with pytest.raises(ValueError, match="t_min"):
        TabulatedScore(lambda x, t: x, [points], 0.0, 1.0, 4)
    with pytest.raises(ValueError, match="t_max"):
        TabulatedScore(lambda x, t: x, [points], 1.0, 0.5, 4)
    with pytest.raises(ValueError, match="nodes"):
        TabulatedScore(lambda x, t: x, [points], 0.1, 1.0, 1)

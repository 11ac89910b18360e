"""LossCurveHook's smoothing and its argument checks."""
import math

import numpy as np
import pytest

from swin_mm.engine.hooks import LossCurveHook, trailing_mean


def test_trailing_mean_averages_up_to_window_previous_values():
    out = trailing_mean([1., 2., 3., 4., 5.], window=2)
    np.testing.assert_allclose(out, [1., 1.5, 2.5, 3.5, 4.5])


def test_trailing_mean_with_window_one_returns_the_values():
    np.testing.assert_allclose(trailing_mean([3., 1., 2.], 1), [3., 1., 2.])


def test_trailing_mean_skips_missing_values():
    out = trailing_mean(
        [2., float('nan'), 4.,
         float('nan'), float('nan')], window=2)
    assert out[0] == 2. and out[1] == 2. and out[2] == 4. and out[3] == 4.
    assert math.isnan(out[4])


@pytest.mark.parametrize('window', [0, -3, 2.5])
def test_loss_curve_hook_rejects_a_window_that_is_not_a_positive_int(window):
    with pytest.raises(ValueError, match='window must be a positive int'):
        LossCurveHook(window=window)

"""The shifted-window concepts, checked against direct computations."""
import itertools

import pytest
import torch

from swin_mm.models.layers import (SHIFT_MASK_VALUE, cyclic_shift,
                                   pad_to_window, relative_position_index,
                                   shift_window_mask, shift_window_regions,
                                   window_partition, window_reverse,
                                   window_shift)


@pytest.mark.parametrize('M', [1, 2, 3, 7, 12])
def test_relative_position_index_matches_paper_formula(M):
    index = relative_position_index(M)
    assert index.shape == (M * M, M * M)
    for i, j in itertools.product(range(M * M), repeat=2):
        (yi, xi), (yj, xj) = divmod(i, M), divmod(j, M)
        dy, dx = yi - yj, xi - xj
        assert index[i, j] == (dy + M - 1) * (2 * M - 1) + (dx + M - 1)
    # Every one of the (2M-1)^2 offsets is used.
    assert index.unique().numel() == (2 * M - 1)**2


def test_window_partition_orders_windows_row_major():
    x = torch.randn(2, 8, 12, 3)
    windows = window_partition(x, 4)
    assert windows.shape == (2 * 2 * 3, 16, 3)
    # Window 4 of image 1 is the second window of its second row.
    expected = x[1, 4:8, 4:8].reshape(16, 3)
    assert torch.equal(windows[6 + 4], expected)
    assert torch.equal(window_reverse(windows, 4, 8, 12), x)


def test_cyclic_shift_moves_top_left_strip_to_bottom_right():
    x = torch.arange(36.).view(1, 6, 6, 1)
    shifted = cyclic_shift(x, (-2, -2))
    assert shifted[0, 0, 0, 0] == x[0, 2, 2, 0]
    assert shifted[0, 4, 4, 0] == x[0, 0, 0, 0]
    assert torch.equal(cyclic_shift(shifted, (2, 2)), x)


def test_pad_to_window_pads_bottom_right_with_zeros():
    x = torch.ones(1, 5, 9, 2)
    padded = pad_to_window(x, 4)
    assert padded.shape == (1, 8, 12, 2)
    assert padded[:, :5, :9].eq(1).all()
    assert padded[:, 5:].eq(0).all() and padded[:, :, 9:].eq(0).all()


def test_window_shift_skips_dimensions_that_fit_in_one_window():
    assert window_shift((14, 14), 7, 3, always_shift=False) == (3, 3)
    assert window_shift((7, 7), 7, 3, always_shift=False) == (0, 0)
    assert window_shift((14, 7), 7, 3, always_shift=False) == (3, 0)
    assert window_shift((7, 7), 7, 3, always_shift=True) == (3, 3)


def test_shift_regions_are_the_nine_bands_of_the_paper():
    regions = shift_window_regions((8, 8), 4, (2, 2))
    band = torch.tensor([0, 0, 0, 0, 1, 1, 2, 2])  # [0,-M), [-M,-s), [-s,)
    assert torch.equal(regions, band[:, None] * 3 + band[None, :])
    assert regions.unique().tolist() == list(range(9))


def test_shift_mask_regions_8x8_window4_shift2():
    mask = shift_window_mask((8, 8), 4, (2, 2))
    assert mask.shape == (4, 16, 16)
    assert set(mask.unique().tolist()) == {0.0, SHIFT_MASK_VALUE}
    masked = (mask == SHIFT_MASK_VALUE)

    # Window 0 (top-left) holds region 0 only: nothing masked.
    assert masked[0].sum() == 0
    # Window 1 (top-right): columns 0-1 are region 1, columns 2-3 region 2.
    col = torch.arange(16) % 4
    left = col < 2
    assert torch.equal(masked[1], left[:, None] != left[None, :])
    # Window 2 (bottom-left): rows 0-1 region 3, rows 2-3 region 6.
    row = torch.arange(16) // 4
    top = row < 2
    assert torch.equal(masked[2], top[:, None] != top[None, :])
    # Window 3 (bottom-right): four 2x2 quadrants, regions 4, 5, 7, 8.
    quadrant = top.long() * 2 + left.long()
    assert torch.equal(masked[3], quadrant[:, None] != quadrant[None, :])
    assert masked[3].sum() == 256 - 4 * 16
    # Token (0,0) and (0,1) share region 4; (0,0) and (0,3) do not.
    assert mask[3, 0, 1] == 0 and mask[3, 0, 3] == SHIFT_MASK_VALUE


def test_shift_mask_along_one_dimension_only():
    mask = shift_window_mask((4, 8), 4, (0, 2))
    assert mask.shape == (2, 16, 16)
    assert (mask[0] == 0).all()
    col = torch.arange(16) % 4
    left = col < 2
    assert torch.equal(mask[1] == SHIFT_MASK_VALUE, left[:, None]
                       != left[None, :])


def test_shift_mask_is_cached_per_size_and_device():
    a = shift_window_mask((8, 8), 4, (2, 2))
    b = shift_window_mask((8, 8), 4, (2, 2), torch.device('cpu'))
    assert a is b
    assert shift_window_mask((8, 12), 4, (2, 2)) is not a

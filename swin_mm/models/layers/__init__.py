"""Building blocks shared by the Swin backbones."""
from .patch import PatchEmbed, PatchMerging, PatchMergingV2
from .windows import (SHIFT_MASK_VALUE, cyclic_shift,
                      log_spaced_relative_coords, pad_to_window, padded_size,
                      relative_position_index, shift_window_mask,
                      shift_window_regions, window_partition, window_reverse,
                      window_shift)

__all__ = [
    'PatchEmbed', 'PatchMerging', 'PatchMergingV2', 'SHIFT_MASK_VALUE',
    'cyclic_shift', 'log_spaced_relative_coords', 'pad_to_window',
    'padded_size', 'relative_position_index', 'shift_window_mask',
    'shift_window_regions', 'window_partition', 'window_reverse',
    'window_shift'
]

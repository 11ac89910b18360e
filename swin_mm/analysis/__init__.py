"""Analysis of the Swin backbones: complexity counts, the FLOPs report and
figures of windows, masks and features (the tools in tools/analysis run
them)."""
from .complexity import (block_macs, count_macs, count_macs_by_kind, msa_macs,
                         patch_merging_macs, window_msa_macs)

__all__ = [
    'block_macs', 'count_macs', 'count_macs_by_kind', 'msa_macs',
    'patch_merging_macs', 'window_msa_macs'
]

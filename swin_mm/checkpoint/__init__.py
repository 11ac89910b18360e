"""Checkpoint layouts and safe loading for swin_mm backbones."""
from .layouts import (LAYOUTS, TREES, detect_layout, from_official,
                      from_openmmlab, from_openmmlab_v2, from_timm,
                      from_torchvision, is_v2, merging_from_unfold_order,
                      merging_to_unfold_order, to_official, to_openmmlab,
                      to_paper_layout, to_tree)
from .loading import (CheckpointError, LoadReport, convert_backbone_keys,
                      convert_state_dict, extract_state_dict, load_pretrained,
                      partial_loading, pretrained_kwargs, read_checkpoint,
                      resize_position_embedding,
                      resize_relative_position_bias_table, strip_prefixes)

__all__ = [
    'LAYOUTS', 'TREES', 'CheckpointError', 'LoadReport',
    'convert_backbone_keys', 'convert_state_dict', 'detect_layout',
    'extract_state_dict', 'from_official', 'from_openmmlab',
    'from_openmmlab_v2', 'from_timm', 'from_torchvision', 'is_v2',
    'load_pretrained', 'merging_from_unfold_order', 'merging_to_unfold_order',
    'partial_loading', 'pretrained_kwargs', 'read_checkpoint',
    'resize_position_embedding', 'resize_relative_position_bias_table',
    'strip_prefixes', 'to_official', 'to_openmmlab', 'to_paper_layout',
    'to_tree'
]

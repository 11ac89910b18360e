"""Backbones registered in the ``swin_mm`` registry scope."""
from .swin_transformer import SwinTransformer
from .swin_transformer_v2 import SwinTransformerV2

__all__ = ['SwinTransformer', 'SwinTransformerV2']

"""Backbones registered in the ``swin_mm`` registry scope."""
from .swin_transformer import SwinTransformer

__all__ = ['SwinTransformer']

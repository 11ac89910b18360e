"""Models of swin_mm; importing this registers them in the swin_mm scope."""
from .backbones import SwinTransformer, SwinTransformerV2

__all__ = ['SwinTransformer', 'SwinTransformerV2']

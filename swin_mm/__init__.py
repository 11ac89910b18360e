"""swin_mm: Swin Transformer backbones for MMDetection and MMSegmentation."""
from .version import __version__

__all__ = ['__version__']

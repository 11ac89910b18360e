"""swin_mm: Swin Transformer backbones for MMDetection and MMSegmentation."""
from .checkpoint.safe_unpickling import allow_mmengine_checkpoints
from .version import __version__

# mmengine's training checkpoints load weights-only in any tool that builds
# a swin_mm model (see swin_mm.checkpoint.safe_unpickling).
allow_mmengine_checkpoints()

__all__ = ['__version__']

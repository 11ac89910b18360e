"""Runner-side parts of swin_mm: hooks, model wrappers, the layer-decay
optimizer constructor, launch helpers."""
from .ddp import CPUDistributedDataParallel
from .hooks import LossCurveHook
from .optimizer import SwinLayerDecayOptimWrapperConstructor

__all__ = [
    'CPUDistributedDataParallel', 'LossCurveHook',
    'SwinLayerDecayOptimWrapperConstructor'
]

"""Runner-side parts of swin_mm: hooks, model wrappers, launch helpers."""
from .ddp import CPUDistributedDataParallel
from .hooks import LossCurveHook

__all__ = ['CPUDistributedDataParallel', 'LossCurveHook']

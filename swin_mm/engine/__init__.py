"""Runner-side parts of swin_mm: hooks, model wrappers, the layer-decay
optimizer constructor, launch helpers."""
from .ddp import CPUDistributedDataParallel
from .hooks import BackboneRuntimeHook, LossCurveHook
from .optimizer import SwinLayerDecayOptimWrapperConstructor
from .sharding import (HeldBytesHook, ShardedDataParallel, ShardedOptimWrapper,
                       ShardedOptimWrapperConstructor, make_sharded)

__all__ = [
    'BackboneRuntimeHook', 'CPUDistributedDataParallel', 'HeldBytesHook',
    'LossCurveHook', 'ShardedDataParallel', 'ShardedOptimWrapper',
    'ShardedOptimWrapperConstructor', 'SwinLayerDecayOptimWrapperConstructor',
    'make_sharded'
]

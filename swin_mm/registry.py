"""The swin_mm registry scope.

Each registry here is a child of mmengine's root registry with scope
``'swin_mm'``. A config of any OpenMMLab toolkit (default scope ``mmdet`` or
``mmseg``) builds ``type='swin_mm.SwinTransformer'``: mmengine imports this
module for the unknown scope, finds the child under the root registry, and
the child imports its ``locations`` to register the classes. No
``custom_imports`` is needed, and nothing clashes with the toolkits' own
``SwinTransformer``.
"""
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import MODEL_WRAPPERS as MMENGINE_MODEL_WRAPPERS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import \
    OPTIM_WRAPPER_CONSTRUCTORS as MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS
from mmengine.registry import OPTIM_WRAPPERS as MMENGINE_OPTIM_WRAPPERS
from mmengine.registry import STRATEGIES as MMENGINE_STRATEGIES
from mmengine.registry import Registry


def _child(parent: Registry, location: str) -> Registry:
    """swin_mm's scope under one of mmengine's root registries; its classes
    are registered by importing ``location``."""
    return Registry(
        parent.name, parent=parent, scope='swin_mm', locations=[location])


MODELS = _child(MMENGINE_MODELS, 'swin_mm.models')
HOOKS = _child(MMENGINE_HOOKS, 'swin_mm.engine')
MODEL_WRAPPERS = _child(MMENGINE_MODEL_WRAPPERS, 'swin_mm.engine')
OPTIM_WRAPPER_CONSTRUCTORS = _child(MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS,
                                    'swin_mm.engine')
OPTIM_WRAPPERS = _child(MMENGINE_OPTIM_WRAPPERS, 'swin_mm.engine')
STRATEGIES = _child(MMENGINE_STRATEGIES, 'swin_mm.engine')

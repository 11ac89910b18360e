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

MODELS = Registry(
    'model',
    parent=MMENGINE_MODELS,
    scope='swin_mm',
    locations=['swin_mm.models'])
HOOKS = Registry(
    'hook',
    parent=MMENGINE_HOOKS,
    scope='swin_mm',
    locations=['swin_mm.engine'])
MODEL_WRAPPERS = Registry(
    'model_wrapper',
    parent=MMENGINE_MODEL_WRAPPERS,
    scope='swin_mm',
    locations=['swin_mm.engine'])
OPTIM_WRAPPER_CONSTRUCTORS = Registry(
    'optimizer wrapper constructor',
    parent=MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS,
    scope='swin_mm',
    locations=['swin_mm.engine'])
OPTIM_WRAPPERS = Registry(
    'optim_wrapper',
    parent=MMENGINE_OPTIM_WRAPPERS,
    scope='swin_mm',
    locations=['swin_mm.engine'])
STRATEGIES = Registry(
    'strategy',
    parent=MMENGINE_STRATEGIES,
    scope='swin_mm',
    locations=['swin_mm.engine'])

"""The swin_mm registry scope.

``MODELS`` is a child of mmengine's root model registry with scope
``'swin_mm'``. A config of any OpenMMLab toolkit (default scope ``mmdet`` or
``mmseg``) builds ``type='swin_mm.SwinTransformer'``: mmengine imports this
module for the unknown scope, finds the child registry under the root, and the
child imports ``locations`` to register the backbones. No ``custom_imports``
is needed, and nothing clashes with the toolkits' own ``SwinTransformer``.
"""
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import Registry

MODELS = Registry(
    'model',
    parent=MMENGINE_MODELS,
    scope='swin_mm',
    locations=['swin_mm.models'])

"""MMDetection's ``SwinTransformer``, also where mmcv has no compiled ops.

``mmdet.models`` imports every detector's layers, and some of those need
mmcv's compiled ops (``mmcv._ext``). A machine with mmcv's Python parts
only (an mmcv wheel built with ``MMCV_WITH_OPS=0``, as on the GPU check's
machine, where the ops cannot be built in the time it has) can still run
MMDetection's Swin backbone itself: ``mmdet/models/backbones/swin.py``
needs only ``PatchEmbed`` and ``PatchMerging`` from
``mmdet/models/layers/transformer/utils.py``, both pure Python. Where the
ordinary import fails for lack of the ops, :func:`mmdet_swin_class` loads
those two files from the installed MMDetection under their own module
names, with the packages above them registered empty (their
``__init__`` files, which import the ops, are not run).
"""
import importlib
import sys
import types
from pathlib import Path

#: Packages whose ``__init__`` imports layers that need mmcv's ops.
_PACKAGES = ('mmdet.models', 'mmdet.models.layers',
             'mmdet.models.layers.transformer', 'mmdet.models.backbones')


def mmdet_swin_class() -> type:
    """MMDetection's ``SwinTransformer`` class (see the module doc)."""
    loaded = sys.modules.get('mmdet.models.backbones.swin')
    if loaded is not None:  # by either route, earlier
        return loaded.SwinTransformer
    try:
        from mmdet.models.backbones import SwinTransformer
        return SwinTransformer
    except ModuleNotFoundError as error:
        if error.name != 'mmcv._ext':
            raise
    return _load_without_ops()


def _load_without_ops() -> type:
    """Load ``swin.py`` and the transformer ``utils.py`` it needs, with the
    packages above them registered as empty packages."""
    import mmdet
    root = Path(mmdet.__file__).parent
    for name in _PACKAGES:
        module = sys.modules.get(name)
        if module is None:
            module = types.ModuleType(name)
            module.__path__ = [str(root.joinpath(*name.split('.')[1:]))]
            sys.modules[name] = module
            parent, _, child = name.rpartition('.')
            setattr(sys.modules[parent], child, module)
    utils = importlib.import_module('mmdet.models.layers.transformer.utils')
    layers = sys.modules['mmdet.models.layers']
    layers.PatchEmbed, layers.PatchMerging = utils.PatchEmbed, \
        utils.PatchMerging
    return importlib.import_module(
        'mmdet.models.backbones.swin').SwinTransformer

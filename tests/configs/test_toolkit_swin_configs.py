"""Every Swin config shipped with MMDetection and MMSegmentation swaps to
swin_mm by its backbone ``type`` alone, and the swapped model, given the
toolkit model's weights, computes the toolkit's features.

``always_shift=True`` is the one option added: it computes exactly what the
toolkits compute where a stage's map fits in one window.
"""
from pathlib import Path

import mmdet
import mmseg
import pytest
import torch
from mmengine.config import Config

from swin_mm.models import SwinTransformer
from ..helpers import randomize
from .test_configs import build_model

# Subprocesses or large models: out of the everyday subset.
pytestmark = pytest.mark.slow

TOOLKIT_CONFIGS = sorted([
    *(Path(mmdet.__file__).parent / '.mim/configs/swin').glob('*.py'),
    *(Path(mmseg.__file__).parent / '.mim/configs/swin').glob('*.py')
])


def test_both_toolkits_ship_swin_configs():
    names = [p.parents[3].name for p in TOOLKIT_CONFIGS]
    assert names.count('mmdet') >= 5 and names.count('mmseg') >= 8


@pytest.mark.parametrize(
    'path', TOOLKIT_CONFIGS, ids=lambda p: f'{p.parents[3].name}:{p.stem}')
def test_toolkit_config_swaps_by_type_and_gives_its_features(path):
    cfg = Config.fromfile(str(path))
    theirs = build_model(cfg)
    swapped = Config.fromfile(str(path))
    swapped.model.backbone.type = 'swin_mm.SwinTransformer'
    swapped.model.backbone.always_shift = True
    ours = build_model(swapped)
    assert isinstance(ours.backbone, SwinTransformer)

    randomize(theirs.backbone)
    # The whole model's state dict, in the toolkit's layout, loads
    # strictly: the backbone's keys are converted on the way in.
    ours.load_state_dict(theirs.state_dict(), strict=True)
    theirs.backbone.eval()
    ours.backbone.eval()
    x = torch.randn(1, ours.backbone.in_channels, 112, 137)
    with torch.no_grad():
        expected, got = theirs.backbone(x), ours.backbone(x)
    assert len(got) == len(expected) == len(cfg.model.backbone.out_indices)
    for a, b in zip(expected, got):
        torch.testing.assert_close(b, a, rtol=0, atol=1e-4)

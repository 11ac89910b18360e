"""Every Swin config shipped with MMDetection and MMSegmentation trains the
same with swin_mm's backbone (``backbone.type`` changed, nothing else):
the same parameter names in the same order, and every backbone parameter
gets the same learning rate, weight decay and ``requires_grad`` from the
config's own ``optim_wrapper`` (its ``custom_keys``, ``frozen_stages``...).
Features are compared for one config per distinct backbone setting, at a
size where every stage holds more than one window.

Models that cannot be built here (GLIP's and Grounding DINO's text
encoders come from a model hub; one shipped V3Det config passes FPN an
argument mmdet 3.3.0 does not take) stop the same way with swin_mm's
backbone; their backbone is checked alone, named as in the model
(``backbone.*``), and the test is reported skipped with the reason.
"""
import pytest
import torch

from swin_mm.models import SwinTransformer
from ..helpers import randomize
from .sweep import (build_backbone, build_model, config_id, load, offline_env,
                    one_config_per_setting, parameter_settings,
                    shipped_swin_configs)

# Builds every shipped Swin model: minutes, so out of `make test-fast`.
pytestmark = pytest.mark.slow

offline_env()
CONFIGS = shipped_swin_configs()


def test_the_sweep_covers_both_toolkits():
    ids = [config_id(p) for p in CONFIGS]
    assert sum(i.startswith('mmdet:') for i in ids) >= 90
    assert sum(i.startswith('mmseg:') for i in ids) >= 20
    assert 'mmdet:rtmdet/rtmdet_l_swin_b_p6_4xb16-100e_coco' in ids


def _assert_trains_the_same(theirs_cfg, theirs, ours_cfg, ours):
    ours_backbone = ours.backbone
    assert isinstance(ours_backbone, SwinTransformer)
    theirs_state, ours_state = theirs.state_dict(), ours.state_dict()
    assert list(ours_state) == list(theirs_state)
    for key, value in theirs_state.items():
        assert ours_state[key].shape == value.shape, key
    theirs_settings = parameter_settings(theirs_cfg, theirs)
    ours_settings = parameter_settings(ours_cfg, ours)
    backbone = sorted(k for k in theirs_settings if k.startswith('backbone.'))
    assert backbone == sorted(
        k for k in ours_settings if k.startswith('backbone.'))
    for name in backbone:
        assert ours_settings[name] == theirs_settings[name], name
    frozen = [n for n, p in theirs.named_parameters() if not p.requires_grad]
    assert frozen == [
        n for n, p in ours.named_parameters() if not p.requires_grad
    ]


@pytest.mark.parametrize('path', CONFIGS, ids=config_id)
def test_shipped_config_trains_the_same_with_swin_mm(path):
    theirs_cfg, ours_cfg = load(path, False), load(path, True)
    theirs, why = build_model(theirs_cfg)
    ours, ours_why = build_model(ours_cfg)
    # Whatever stops the toolkit's model stops the swapped one, no more.
    assert ours_why == why
    if theirs is not None:
        _assert_trains_the_same(theirs_cfg, theirs, ours_cfg, ours)
        return
    _assert_trains_the_same(theirs_cfg, build_backbone(theirs_cfg), ours_cfg,
                            build_backbone(ours_cfg))
    pytest.skip(f'whole model not built ({why}); its backbone alone, '
                'checked: same names, lr, weight decay, freezing')


def _input_size(backbone: SwinTransformer) -> tuple:
    """Every stage's map wider than the window, H != W, neither a
    multiple of the last stride."""
    last = backbone.patch_size * 2**(backbone.num_stages - 1)
    M = backbone.window_size
    return last * (M + 1) + 5, last * (M + 2) + 3


@pytest.mark.parametrize(
    'path', one_config_per_setting(CONFIGS), ids=config_id)
def test_one_config_per_backbone_setting_gives_the_toolkits_features(path):
    theirs = build_backbone(load(path, False)).backbone
    ours = build_backbone(load(path, True)).backbone
    randomize(theirs)
    ours.load_state_dict(theirs.state_dict(), strict=True)
    theirs.eval()
    ours.eval()
    x = torch.randn(1, ours.in_channels, *_input_size(ours))
    with torch.no_grad():
        expected, got = theirs(x), ours(x)
    assert len(got) == len(expected) == len(ours.out_indices)
    for i, (a, b) in zip(ours.out_indices, zip(expected, got)):
        side = b.shape[-2:]
        assert min(side) > ours.window_size, (i, side)  # several windows
        torch.testing.assert_close(b, a, rtol=0, atol=1e-4)

"""A whole model's state dict of any layout loads into a model holding a
swin_mm backbone, through every loader, and never leaves it at random init.

The backbone's ``_load_from_state_dict`` converts the keys under its prefix
(:func:`swin_mm.checkpoint.convert_backbone_keys`), so these tests load
through the loaders users meet: ``nn.Module.load_state_dict`` and mmengine's
``load_checkpoint`` (what the runner's ``load_from`` and ``resume`` call,
non-strict). The runner and tools/test.py are covered in
tests/engine/test_whole_model_evaluation.py.
"""
import re
from collections import OrderedDict

import pytest
import torch
import torch.nn as nn
from mmengine.runner import load_checkpoint

from swin_mm.checkpoint import (CheckpointError, partial_loading, to_official,
                                to_openmmlab, to_paper_layout)
from .helpers import SMALL, assert_same_features, features, make_swin
from .test_layouts import timm_layout, torchvision_layout


class Detector(nn.Module):
    """A stand-in detector: a backbone and one more module (a 'neck')."""

    def __init__(self, **backbone_kwargs):
        super().__init__()
        self.backbone = make_swin(**backbone_kwargs)
        self.neck = nn.Conv2d(8 * SMALL['embed_dims'], 8, 1)


def _with_out_norms(layout_state: dict, model: nn.Module) -> dict:
    """A classifier layout without its head and final norm, plus the four
    output norms: how a detector built on that implementation saves it."""
    state = OrderedDict(
        (k, v) for k, v in layout_state.items()
        if not k.startswith(('head.', 'norm.')) and not k.endswith(
            ('relative_position_index', 'attn_mask')))
    state.update((k, v) for k, v in model.state_dict().items()
                 if re.match(r'^norm\d\.', k))
    return state


LAYOUTS = {
    'openmmlab': lambda m: to_openmmlab(m.state_dict()),
    'official': lambda m: to_official(m.state_dict()),
    'timm': lambda m: _with_out_norms(timm_layout(m), m),
    'torchvision': lambda m: _with_out_norms(torchvision_layout(m), m),
    'swin_mm': lambda m: m.state_dict(),
    'swin_mm_v0': lambda m: to_paper_layout(m.state_dict()),
}


def _detector_state(source_model, layout: str, prefix='backbone.') -> dict:
    state = {prefix + k: v for k, v in LAYOUTS[layout](source_model).items()}
    neck = nn.Conv2d(8 * SMALL['embed_dims'], 8, 1)
    state.update({f'neck.{k}': v for k, v in neck.state_dict().items()})
    return state


@pytest.mark.parametrize('layout', sorted(LAYOUTS))
def test_load_state_dict_converts_every_layout(source_model, x, layout):
    detector = Detector()
    state = _detector_state(source_model, layout)
    result = detector.load_state_dict(state, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    assert_same_features(
        features(source_model, x), features(detector.backbone, x))
    assert torch.equal(detector.neck.weight, state['neck.weight'])


@pytest.mark.parametrize('layout', ['openmmlab', 'official'])
def test_mmengine_load_checkpoint_converts_whole_model(tmp_path, source_model,
                                                       x, layout):
    # What the runner's load_from / resume and tools/test.py call:
    # mmengine's non-strict loader, which only warns about unmatched keys.
    path = tmp_path / 'detector.pth'
    torch.save(
        {
            'state_dict': _detector_state(source_model, layout),
            'meta': {
                'iter': 10
            }
        }, path)
    detector = Detector()
    load_checkpoint(detector, str(path), map_location='cpu', strict=False)
    assert_same_features(
        features(source_model, x), features(detector.backbone, x))


def test_backbone_alone_loads_a_whole_detector_state_dict(source_model, x):
    backbone = make_swin()
    backbone.load_state_dict(_detector_state(source_model, 'openmmlab'))
    assert_same_features(features(source_model, x), features(backbone, x))


def test_doubled_backbone_prefix_loads(source_model, x):
    detector = Detector()
    detector.load_state_dict(
        _detector_state(source_model, 'openmmlab', 'backbone.backbone.'))
    assert_same_features(
        features(source_model, x), features(detector.backbone, x))


def test_missing_backbone_weights_are_an_error_naming_them(source_model):
    state = _detector_state(source_model, 'openmmlab')
    del state['backbone.stages.1.blocks.0.attn.w_msa.qkv.weight']
    with pytest.raises(
            CheckpointError,
            match=r'missing: stages\.1\.blocks\.0\.attn\.w_msa\.qkv\.'
            r'weight.*allow_partial_load=True'):
        Detector().load_state_dict(state, strict=False)


def test_no_backbone_weights_at_all_is_an_error(tmp_path, source_model):
    state = {
        k: v
        for k, v in _detector_state(source_model, 'swin_mm').items()
        if not k.startswith('backbone.')
    }
    path = tmp_path / 'heads_only.pth'
    torch.save({'state_dict': state}, path)
    with pytest.raises(CheckpointError, match="no key under 'backbone.'"):
        load_checkpoint(Detector(), str(path), strict=False)


def test_another_architecture_is_an_error(tmp_path):
    # A ResNet detector's checkpoint into a Swin detector.
    state = {
        'backbone.conv1.weight': torch.zeros(64, 3, 7, 7),
        'backbone.layer1.0.conv1.weight': torch.zeros(64, 64, 1, 1),
        'neck.weight': torch.zeros(8, 384, 1, 1)
    }
    path = tmp_path / 'resnet_detector.pth'
    torch.save({'state_dict': state}, path)
    with pytest.raises(
            CheckpointError,
            match="under 'backbone.' cannot load.*known layout"):
        load_checkpoint(Detector(), str(path), strict=False)


def test_deeper_swin_is_an_error_not_a_silent_truncation():
    deeper = make_swin(depths=(2, 2, 4, 2))
    state = {
        f'backbone.{k}': v
        for k, v in to_openmmlab(deeper.state_dict()).items()
    }
    with pytest.raises(
            CheckpointError, match=r'unexpected: stages\.2\.blocks\.2\.'):
        Detector().load_state_dict(state, strict=False)


def test_wider_swin_is_an_error_naming_the_shapes():
    wider = make_swin(embed_dims=64)
    state = {f'backbone.{k}': v for k, v in wider.state_dict().items()}
    with pytest.raises(CheckpointError, match=r'shape mismatches: .*\(64'):
        Detector().load_state_dict(state, strict=False)


def test_partial_loading_is_explicit(source_model, x):
    state = _detector_state(source_model, 'openmmlab')
    key = 'stages.1.blocks.0.attn.w_msa.qkv.weight'
    del state['backbone.stages.1.blocks.0.attn.w_msa.qkv.weight']
    detector = Detector(allow_partial_load=True)
    before = detector.backbone.state_dict()[key].clone()
    result = detector.load_state_dict(state, strict=False)
    assert result.missing_keys == [f'backbone.{key}']
    assert torch.equal(detector.backbone.state_dict()[key], before)
    patch = 'patch_embed.projection.weight'
    assert torch.equal(detector.backbone.state_dict()[patch],
                       source_model.state_dict()[patch])
    # The same through the context manager, for a model built elsewhere.
    other = Detector()
    with partial_loading():
        other.load_state_dict(state, strict=False)


def test_window_change_resizes_bias_tables(source_model, x):
    detector = Detector(window_size=5)
    detector.load_state_dict(_detector_state(source_model, 'openmmlab'))
    table = detector.backbone.stages[0].blocks[0].attn.w_msa.\
        relative_position_bias_table.detach()
    source = source_model.stages[0].blocks[0].attn.w_msa.\
        relative_position_bias_table.detach()  # 13 x 13 offsets
    heads = source.shape[1]
    expected = torch.nn.functional.interpolate(
        source.T.reshape(1, heads, 13, 13),
        size=(9, 9),
        mode='bicubic',
        align_corners=False).reshape(heads, 81).T  # 9 x 9 offsets
    torch.testing.assert_close(table, expected, rtol=0, atol=1e-6)
    index = detector.backbone.stages[0].blocks[0].attn.w_msa.\
        relative_position_index
    assert index.shape == (25, 25) and index.max() == 80

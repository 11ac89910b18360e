"""Every public layout loads into swin_mm with identical features.

Each layout's state dict is built from a model with known weights by mapping
keys as that implementation names them (official classifier, official
detection backbone, MMDetection, timm, torchvision, swin_mm's earlier
layout); MMDetection's own ``swin_converter`` cross-checks the official
layout independently.
"""
import re
from collections import OrderedDict

import pytest
import torch

from swin_mm.checkpoint import (detect_layout, from_official, load_pretrained,
                                merging_to_unfold_order, to_official,
                                to_openmmlab, to_paper_layout)
from swin_mm.models.layers import relative_position_index
from .helpers import SMALL, assert_same_features, features, make_swin


def official_classifier(model) -> dict:
    """The Microsoft classifier's keys: layers.*, downsample at the END of a
    stage, index/mask buffers, one final norm and a 1000-class head."""
    sd = OrderedDict()
    for key, value in to_paper_layout(model.state_dict()).items():
        if key.startswith(('norm0', 'norm1', 'norm2')):
            continue
        if key.startswith('norm3.'):
            key = key.replace('norm3.', 'norm.')
        m = re.match(r'^stages\.(\d+)\.downsample\.(.*)$', key)
        if m:
            key = f'layers.{int(m.group(1)) - 1}.downsample.{m.group(2)}'
        key = key.replace('stages.', 'layers.')
        sd[key] = value
        if key.endswith('relative_position_bias_table'):
            sd[key.replace('_bias_table', '_index')] = \
                relative_position_index(7)
            sd[key.replace('relative_position_bias_table', 'attn_mask')] = \
                torch.zeros(4, 49, 49)
    sd['head.weight'] = torch.randn(1000, 8 * SMALL['embed_dims'])
    sd['head.bias'] = torch.randn(1000)
    return sd


def timm_layout(model) -> dict:
    """timm: layers.*, downsample at the START of stage i, head.fc."""
    sd = OrderedDict()
    for key, value in official_classifier(model).items():
        m = re.match(r'^layers\.(\d+)\.downsample\.(.*)$', key)
        if m:
            key = f'layers.{int(m.group(1)) + 1}.downsample.{m.group(2)}'
        key = key.replace('head.', 'head.fc.')
        if not key.endswith('attn_mask'):
            sd[key] = value
    return sd


def torchvision_layout(model) -> dict:
    """torchvision: features.{0, 2i+1, 2i}, mlp.0 / mlp.3, final norm."""
    sd = OrderedDict()
    for key, value in to_paper_layout(model.state_dict()).items():
        if key.startswith(('norm0', 'norm1', 'norm2')):
            continue
        key = key.replace('norm3.', 'norm.')
        key = key.replace('patch_embed.proj.', 'features.0.0.')
        key = key.replace('patch_embed.norm.', 'features.0.2.')
        key = re.sub(r'^stages\.(\d+)\.blocks\.',
                     lambda m: f'features.{2 * int(m.group(1)) + 1}.', key)
        key = re.sub(r'^stages\.(\d+)\.downsample\.',
                     lambda m: f'features.{2 * int(m.group(1))}.', key)
        key = key.replace('.mlp.fc1.',
                          '.mlp.0.').replace('.mlp.fc2.', '.mlp.3.')
        sd[key] = value
        if key.endswith('relative_position_bias_table'):
            sd[key.replace('_bias_table', '_index')] = \
                relative_position_index(7).flatten()
    sd['head.weight'] = torch.randn(1000, 8 * SMALL['embed_dims'])
    sd['head.bias'] = torch.randn(1000)
    return sd


def load_and_compare(tmp_path, source_model, x, checkpoint, layout):
    path = tmp_path / 'ckpt.pth'
    torch.save(checkpoint, path)
    model = make_swin()
    model.init_weights()
    report = load_pretrained(model, str(path))
    assert report.layout == layout
    assert_same_features(features(source_model, x), features(model, x))
    return report


def test_official_classifier_checkpoint_loads(tmp_path, source_model, x):
    report = load_and_compare(tmp_path, source_model, x,
                              {'model': official_classifier(source_model)},
                              'official')
    # The classifier has no output norms norm0..3: they stay at init.
    assert sorted(report.missing) == sorted(f'norm{i}.{p}' for i in range(4)
                                            for p in ('weight', 'bias'))
    assert {'head.weight', 'head.bias', 'norm.weight'} <= set(report.ignored)
    assert report.unexpected == []


def test_official_detection_checkpoint_with_backbone_prefix_loads(
        tmp_path, source_model, x):
    backbone = to_official(source_model.state_dict())
    state = {f'backbone.{k}': v for k, v in backbone.items()}
    state['neck.fpn_convs.0.conv.weight'] = torch.randn(8, 8, 3, 3)
    state['roi_head.bbox_head.fc_cls.weight'] = torch.randn(81, 8)
    report = load_and_compare(tmp_path, source_model, x, {
        'state_dict': state,
        'meta': {
            'epoch': 36
        }
    }, 'official')
    assert report.missing == [] and report.dropped_non_backbone == 2


def test_official_layout_agrees_with_mmdet_swin_converter(source_model, x):
    """Independent cross-check: mmdet's own converter takes our official
    layout to mmdet's keys, and mmdet's Swin then gives our features."""
    from mmdet.models.backbones import SwinTransformer as MMDetSwin
    from mmdet.models.backbones.swin import swin_converter
    converted = swin_converter(official_classifier(source_model))
    theirs = MMDetSwin(**SMALL)
    state = {
        k[len('backbone.'):]: v
        for k, v in converted.items()
        if not k.endswith(('relative_position_index', 'attn_mask',
                           'backbone.norm.weight', 'backbone.norm.bias'))
    }
    missing, unexpected = theirs.load_state_dict(state, strict=False)
    assert unexpected == []
    assert all(
        k.endswith('relative_position_index') or k.startswith('norm')
        for k in missing)
    # Output norms: identity init on both sides.
    ours = make_swin(always_shift=True)
    ours.load_state_dict(source_model.state_dict())
    theirs.eval()
    with torch.no_grad():
        assert_same_features(theirs(x), features(ours, x), atol=1e-4)


def test_openmmlab_checkpoints_load_with_any_prefix(tmp_path, source_model, x):
    backbone = to_openmmlab(source_model.state_dict())
    # The prefixes users meet: detector, doubled, DataParallel-wrapped.
    for prefix in ('backbone.', 'backbone.backbone.', 'module.backbone.', ''):
        state = {prefix + k: v for k, v in backbone.items()}
        report = load_and_compare(tmp_path, source_model, x,
                                  {'state_dict': state}, 'openmmlab')
        assert report.missing == [] and report.unexpected == []


def test_openmmlab_merging_channels_are_reordered(source_model):
    """A wrong nn.Unfold channel order would still load (same shapes);
    check the reorder explicitly on one merging layer."""
    weight = to_paper_layout(
        source_model.state_dict())['stages.1.downsample.reduction.weight']
    unfold = source_model.stages[0].downsample.reduction.weight
    assert torch.equal(unfold, merging_to_unfold_order(weight))
    C = SMALL['embed_dims']
    # Unfold column c*4 + k, k in (x0, x2, x1, x3); official k*C + c.
    assert torch.equal(unfold[:, 0 * 4 + 1], weight[:, 2 * C + 0])
    assert torch.equal(unfold[:, 5 * 4 + 2], weight[:, 1 * C + 5])


def test_timm_checkpoint_loads(tmp_path, source_model, x):
    report = load_and_compare(tmp_path, source_model, x,
                              {'state_dict': timm_layout(source_model)},
                              'timm')
    assert {'head.fc.weight', 'norm.weight'} <= set(report.ignored)


def test_torchvision_checkpoint_loads(tmp_path, source_model, x):
    load_and_compare(tmp_path, source_model, x,
                     torchvision_layout(source_model), 'torchvision')


def test_earlier_swin_mm_checkpoint_loads(tmp_path, source_model, x):
    """swin_mm's layout before it took OpenMMLab's tree: merging at the
    start of stages 1-3, ``attn.qkv``, ``mlp.fc1``, official channel
    order."""
    earlier = to_paper_layout(source_model.state_dict())
    assert 'stages.1.downsample.reduction.weight' in earlier
    assert 'stages.0.blocks.0.attn.qkv.weight' in earlier
    report = load_and_compare(tmp_path, source_model, x,
                              {'state_dict': earlier}, 'swin_mm_v0')
    assert report.missing == [] and report.unexpected == []


def test_paper_layout_official_round_trip(source_model):
    state = to_paper_layout(source_model.state_dict())
    back = from_official(to_official(state))
    assert list(back) == list(state)
    assert all(torch.equal(back[k], state[k]) for k in state)


def test_detect_layout_names_each_layout(source_model):
    assert detect_layout(source_model.state_dict()) == 'openmmlab'
    assert detect_layout(to_paper_layout(
        source_model.state_dict())) == 'swin_mm_v0'
    assert detect_layout(official_classifier(source_model)) == 'official'
    assert detect_layout(timm_layout(source_model)) == 'timm'
    assert detect_layout(torchvision_layout(source_model)) == 'torchvision'
    assert detect_layout(to_openmmlab(source_model.state_dict())) == \
        'openmmlab'
    assert detect_layout({'conv1.weight': torch.zeros(1)}) == 'unknown'


@pytest.mark.parametrize('use_ema', [False, True])
def test_ema_weights_only_when_asked(tmp_path, source_model, x, use_ema):
    other = make_swin()
    other.load_state_dict(source_model.state_dict())
    with torch.no_grad():
        other.stages[0].blocks[0].attn.w_msa.qkv.weight.mul_(2)
    path = tmp_path / 'ema.pth'
    torch.save(
        {
            'state_dict': source_model.state_dict(),
            'ema_state_dict': other.state_dict()
        }, path)
    model = make_swin()
    load_pretrained(model, str(path), use_ema=use_ema)
    expected = other if use_ema else source_model
    assert_same_features(features(expected, x), features(model, x))

"""A model-zoo checkpoint, evaluated with swin_mm's config through
tools/test.py, gives the toolkit's own model's predictions and metrics.

No download is possible here, so each checkpoint is built the way the zoo's
were: MMDetection's Mask R-CNN with MMDetection's own Swin (and
MMSegmentation's UperNet with its own Swin), from the toolkit's config,
saved whole as an mmengine checkpoint; the official detection repository's
layout is the same detector with its backbone keys as that code names them.
"""
import pickle
import re

import numpy as np
import pytest
import torch
from mmengine.config import Config
from pycocotools import mask as mask_utils

from swin_mm.checkpoint import from_openmmlab, to_official
from .conftest import DET_CFG, SEG_CFG, run_tool, small_run_options

pytestmark = pytest.mark.slow

TOY_SWIN = ("embed_dims=48, depths=(2, 2, 2, 2), num_heads=(3, 6, 12, 24), "
            "window_size=7, drop_path_rate=0., out_indices=(0, 1, 2, 3)")


def toolkit_config(tmp_path, base, name: str, extra: str = ''):
    """A config of the toolkit's own model: the toy config with the
    toolkit's own SwinTransformer (default scope) as its backbone."""
    path = tmp_path / f'{name}.py'
    path.write_text(f"_base_ = ['{base}']\n"
                    f"model = dict(backbone=dict(_delete_=True, "
                    f"type='SwinTransformer', {TOY_SWIN}{extra}))\n")
    return path


def save_toolkit_model(config, path, scope: str) -> dict:
    """Build the toolkit's model from ``config`` with spread-out random
    weights (scores far from ties) and save it whole, as the zoo does."""
    from mmengine.registry import MODELS, init_default_scope
    init_default_scope(scope)
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(config).model)
    model.init_weights()
    with torch.no_grad():
        for name, param in model.named_parameters():
            if not name.startswith('backbone.') and param.dim() > 1:
                param.add_(0.02 * torch.randn_like(param))
    state = model.state_dict()
    torch.save({'state_dict': state, 'meta': {'iter': 1}}, path)
    return state


@pytest.fixture(scope='module')
def det_zoo(toy_root, tmp_path_factory):
    """MMDetection's Mask R-CNN + Swin, its checkpoint, and its own
    predictions and metrics on the toy val images."""
    tmp = tmp_path_factory.mktemp('det_zoo')
    config = toolkit_config(tmp, DET_CFG, 'mmdet_mask_rcnn_swin')
    ckpt = tmp / 'mmdet_zoo.pth'
    state = save_toolkit_model(config, ckpt, 'mmdet')
    assert 'backbone.stages.0.blocks.0.attn.w_msa.qkv.weight' in state
    metrics, preds = evaluate(config, ckpt, toy_root, tmp / 'theirs.pkl')
    return dict(tmp=tmp, ckpt=ckpt, state=state, metrics=metrics, preds=preds)


def evaluate(config, ckpt, toy_root, out, *options):
    result = run_tool('tools/test.py', config, ckpt, '--work-dir',
                      out.parent / out.stem, '--out', out, '--cfg-options',
                      *small_run_options(toy_root, 1), *options)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = eval(result.stdout.strip().splitlines()[-1])
    with open(out, 'rb') as f:
        return metrics, pickle.load(f)


def assert_same_detections(theirs, ours):
    assert len(theirs) == len(ours) == 4
    for a, b in zip(theirs, ours):
        pa, pb = a['pred_instances'], b['pred_instances']
        assert len(pa['scores']) > 0
        torch.testing.assert_close(
            pa['scores'], pb['scores'], rtol=0, atol=1e-4)
        assert torch.equal(pa['labels'], pb['labels'])
        torch.testing.assert_close(
            pa['bboxes'], pb['bboxes'], rtol=0, atol=1e-3)
        ma = mask_utils.decode(pa['masks'])
        mb = mask_utils.decode(pb['masks'])
        assert ma.shape == mb.shape and ma.any()
        assert (ma != mb).mean() < 1e-4


SWIN_MM = ('model.backbone.always_shift=True', )


def test_mmdet_zoo_detector_evaluates_to_its_own_detections(det_zoo, toy_root):
    metrics, preds = evaluate(DET_CFG, det_zoo['ckpt'], toy_root,
                              det_zoo['tmp'] / 'ours.pkl', *SWIN_MM)
    assert_same_detections(det_zoo['preds'], preds)
    assert metrics == det_zoo['metrics']


def test_official_detection_layout_evaluates_to_the_same(det_zoo, toy_root):
    prefix = 'backbone.'
    state = {
        k: v
        for k, v in det_zoo['state'].items() if not k.startswith(prefix)
    }
    backbone = {
        k[len(prefix):]: v
        for k, v in det_zoo['state'].items() if k.startswith(prefix)
    }
    official = to_official(from_openmmlab(backbone))
    assert 'layers.0.downsample.reduction.weight' in official
    state.update({prefix + k: v for k, v in official.items()})
    ckpt = det_zoo['tmp'] / 'official.pth'
    torch.save({'state_dict': state}, ckpt)
    metrics, preds = evaluate(DET_CFG, ckpt, toy_root,
                              det_zoo['tmp'] / 'official.pkl', *SWIN_MM)
    assert_same_detections(det_zoo['preds'], preds)
    assert metrics == det_zoo['metrics']


@pytest.mark.parametrize('change,message', [
    ('drop_key', r'missing: stages\.2\.blocks\.1\.attn\.w_msa\.qkv\.weight'),
    ('resnet', r"under 'backbone\.' cannot load.*known layout"),
    ('no_backbone', r"no key under 'backbone\.'"),
])
def test_checkpoint_that_does_not_fit_fails_naming_the_problem(
        det_zoo, toy_root, change, message):
    state = dict(det_zoo['state'])
    if change == 'drop_key':
        del state['backbone.stages.2.blocks.1.attn.w_msa.qkv.weight']
    else:
        state = {
            k: v
            for k, v in state.items() if not k.startswith('backbone.')
        }
        if change == 'resnet':
            state['backbone.conv1.weight'] = torch.zeros(64, 3, 7, 7)
            state['backbone.layer1.0.conv1.weight'] = torch.zeros(64, 64, 1, 1)
    ckpt = det_zoo['tmp'] / f'{change}.pth'
    torch.save({'state_dict': state}, ckpt)
    result = run_tool('tools/test.py', DET_CFG, ckpt, '--work-dir',
                      det_zoo['tmp'] / change, '--cfg-options',
                      *small_run_options(toy_root, 1))
    assert result.returncode != 0
    assert 'CheckpointError' in result.stderr
    assert re.search(message, result.stderr), result.stderr[-2000:]


def test_show_dir_draws_ground_truth_beside_predictions(det_zoo, toy_root):
    show = det_zoo['tmp'] / 'drawn'
    result = run_tool('tools/test.py', DET_CFG, det_zoo['ckpt'], '--work-dir',
                      det_zoo['tmp'] / 'show',
                      '--show-dir', show, '--cfg-options',
                      *small_run_options(toy_root, 1), *SWIN_MM)
    assert result.returncode == 0, result.stderr[-3000:]
    import cv2
    drawn = sorted(show.glob('*.png')) + sorted(show.glob('*.jpg'))
    assert len(drawn) == 4
    image = cv2.imread(str(drawn[0]))
    # Ground truth and prediction side by side: twice the width.
    assert image.shape[1] == 2 * image.shape[0]
    # `make main` tiles some of them into one picture.
    picture = det_zoo['tmp'] / 'tiled.png'
    tiled = run_tool('tools/analysis/tile_images.py', show, picture, '--num',
                     3, '--columns', 2)
    assert tiled.returncode == 0, tiled.stderr[-2000:]
    assert str(picture) in tiled.stdout
    grid = cv2.imread(str(picture))
    assert grid.shape == (2 * image.shape[0], 2 * image.shape[1], 3)
    assert grid[:image.shape[0], :image.shape[1]].std() > 0


@pytest.fixture(scope='module')
def seg_zoo(toy_root, tmp_path_factory):
    tmp = tmp_path_factory.mktemp('seg_zoo')
    config = toolkit_config(tmp, SEG_CFG, 'mmseg_upernet_swin',
                            ', init_cfg=None')
    ckpt = tmp / 'mmseg_zoo.pth'
    save_toolkit_model(config, ckpt, 'mmseg')
    return dict(tmp=tmp, ckpt=ckpt, config=config)


def seg_evaluate(config, ckpt, toy_root, out, *options):
    result = run_tool('tools/test.py', config, ckpt, '--work-dir',
                      out.parent / f'{out.name}_work', '--out', out,
                      '--cfg-options',
                      *small_run_options(toy_root, 1, det=False), *options)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = eval(result.stdout.strip().splitlines()[-1])
    import cv2
    maps = [
        cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
        for p in sorted(out.glob('*.png'))
    ]
    return metrics, maps


def test_mmseg_zoo_segmentor_evaluates_to_its_own_label_maps(
        seg_zoo, toy_root):
    theirs = seg_evaluate(seg_zoo['config'], seg_zoo['ckpt'], toy_root,
                          seg_zoo['tmp'] / 'theirs')
    ours = seg_evaluate(SEG_CFG, seg_zoo['ckpt'], toy_root,
                        seg_zoo['tmp'] / 'ours', *SWIN_MM)
    assert len(theirs[1]) == len(ours[1]) == 4
    for a, b in zip(theirs[1], ours[1]):
        assert a.shape == b.shape and len(np.unique(a)) > 1
        assert np.array_equal(a, b)
    assert theirs[0] == ours[0]


def test_tta_needs_the_configs_tta_definitions(det_zoo, toy_root):
    result = run_tool('tools/test.py', DET_CFG, det_zoo['ckpt'], '--tta',
                      '--work-dir', det_zoo['tmp'] / 'tta', '--cfg-options',
                      *small_run_options(toy_root, 1))
    assert result.returncode != 0
    assert '--tta needs tta_model and tta_pipeline' in result.stderr


def test_tta_runs_where_the_config_defines_it(seg_zoo, toy_root):
    metrics, maps = seg_evaluate(SEG_CFG, seg_zoo['ckpt'], toy_root,
                                 seg_zoo['tmp'] / 'tta', '--tta')
    assert 0 <= metrics['mIoU'] <= 100 and len(maps) == 4
    # Flips and six scales averaged: other label maps than one plain pass
    # (--tta ignored would give the same).
    plain_metrics, plain = seg_evaluate(SEG_CFG, seg_zoo['ckpt'], toy_root,
                                        seg_zoo['tmp'] / 'plain')
    assert [m.shape for m in maps] == [m.shape for m in plain]
    assert not all(np.array_equal(a, b) for a, b in zip(maps, plain))
    assert metrics['mIoU'] != plain_metrics['mIoU']

"""tools/train.py, tools/test.py and the launchers, end to end on toy data."""
import re

import pytest
import torch

from swin_mm.engine.launch import check_data_paths, load_config
from .conftest import (DET_CFG, ROOT, SEG_CFG, free_port, logged_losses,
                       run_tool, small_run_options)

pytestmark = pytest.mark.slow


@pytest.fixture(scope='module')
def det_run(toy_root, tmp_path_factory):
    """A short toy Mask R-CNN training (20 iterations, batch 2)."""
    work = tmp_path_factory.mktemp('det')
    out = run_tool('tools/train.py', DET_CFG, '--work-dir', work,
                   '--cfg-options', *small_run_options(toy_root, 20))
    assert out.returncode == 0, out.stderr[-3000:]
    return work, out.stdout + out.stderr


def test_toy_training_lowers_the_loss(det_run):
    _, log = det_run
    losses = logged_losses(log)
    assert len(losses) == 20
    assert sum(losses[-3:]) / 3 < 0.9 * sum(losses[:3]) / 3, losses


def test_training_writes_checkpoint_loss_curve_and_coco_metrics(det_run):
    work, log = det_run
    assert (work / 'iter_20.pth').is_file()
    png = work / 'loss_curve.png'
    assert png.is_file() and png.stat().st_size > 5000
    assert png.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    assert re.search(r'coco/bbox_mAP: [\d.]+', log)
    assert re.search(r'coco/segm_mAP: [\d.]+', log)


def test_test_tool_evaluates_a_saved_checkpoint(det_run, toy_root, tmp_path):
    work, log = det_run
    out = run_tool('tools/test.py', DET_CFG, work / 'iter_20.pth',
                   '--work-dir', tmp_path, '--cfg-options',
                   *small_run_options(toy_root, 20))
    assert out.returncode == 0, out.stderr[-3000:]
    metrics = eval(out.stdout.strip().splitlines()[-1])
    # The training run validated the same weights on the same split at its
    # last iteration: the saved checkpoint evaluates to those figures.
    for key in ('coco/bbox_mAP', 'coco/segm_mAP', 'coco/bbox_mAP_50'):
        logged = re.findall(rf'{key}: ([\d.]+)', log)
        assert logged, key
        assert metrics[key] == pytest.approx(float(logged[-1]), abs=6e-4), \
            key


def test_trained_checkpoint_loads_into_a_backbone_weights_only(det_run):
    # A detector checkpoint written by mmengine (with its logging objects)
    # serves as a backbone's pretrained weights, without full unpickling.
    from swin_mm.checkpoint import load_pretrained
    from swin_mm.models import SwinTransformer
    work, _ = det_run
    backbone = SwinTransformer(
        embed_dims=48, depths=(2, 2, 2, 2), num_heads=(3, 6, 12, 24))
    report = load_pretrained(backbone, str(work / 'iter_20.pth'))
    assert report.layout == 'openmmlab' and report.matched
    assert not report.missing and not report.unexpected


def test_resume_continues_from_the_saved_iteration(det_run, toy_root,
                                                   tmp_path):
    work, _ = det_run
    # Copy the finished 20-iteration run and ask for 22 iterations.
    for f in work.iterdir():
        if f.is_file():
            (tmp_path / f.name).write_bytes(f.read_bytes())
    out = run_tool('tools/train.py', DET_CFG, '--work-dir',
                   tmp_path, '--resume', '--cfg-options',
                   *small_run_options(toy_root, 22))
    assert out.returncode == 0, out.stderr[-3000:]
    log = out.stdout + out.stderr
    assert 'resumed epoch: 0, iter: 20' in log
    assert re.search(r'Iter\(train\) \[21/22\]', log)
    assert not re.search(r'Iter\(train\) \[ ?1/22\]', log)
    assert (tmp_path / 'iter_22.pth').is_file()


def test_segmentation_toy_training_reports_miou(toy_root, tmp_path):
    out = run_tool('tools/train.py', SEG_CFG, '--work-dir',
                   tmp_path, '--cfg-options',
                   *small_run_options(toy_root, 10, det=False))
    assert out.returncode == 0, out.stderr[-3000:]
    log = out.stdout + out.stderr
    assert re.search(r'mIoU: [\d.]+', log)
    losses = logged_losses(log)
    assert len(losses) == 10 and losses[-1] < losses[0]


@pytest.mark.parametrize('frozen_stages', [-1, 2])
def test_two_process_torchrun_training_on_cpu(toy_root, tmp_path,
                                              frozen_stages):
    out = run_tool(
        'tools/dist_train.sh',
        DET_CFG,
        2,
        '--work-dir',
        tmp_path,
        '--cfg-options',
        *small_run_options(toy_root, 3),
        f'model.backbone.frozen_stages={frozen_stages}',
        env={
            'PYTHON': str(ROOT / '.venv/bin/python'),
            'PORT': str(free_port()),
            'OMP_NUM_THREADS': '1'
        })
    assert out.returncode == 0, out.stderr[-3000:]
    log = out.stdout + out.stderr
    assert re.search(r'Distributed launcher: pytorch', log)
    assert re.search(r'Distributed training: True', log)
    assert re.search(r'GPU number: 2', log)  # mmengine's name for world size
    # Rank 0 logs every iteration; both ranks stepped (gloo all-reduce
    # would hang otherwise) and one checkpoint was written.
    assert len(logged_losses(log)) == 3
    assert sorted(p.name for p in tmp_path.glob('*.pth')) == ['iter_3.pth']
    state = torch.load(tmp_path / 'iter_3.pth', weights_only=False)
    assert not any(k.startswith('module.') for k in state['state_dict'])


def test_missing_data_root_is_a_clear_error(tmp_path):
    cfg = load_config(str(DET_CFG))
    cfg.train_dataloader.dataset.dataset.data_root = str(tmp_path / 'nowhere')
    with pytest.raises(
            FileNotFoundError, match=r'train data root not found: .*nowhere'):
        check_data_paths(cfg, ('train', ))


def test_unparsable_annotation_file_is_a_clear_error(toy_root, tmp_path):
    (tmp_path / 'annotations').mkdir()
    (tmp_path / 'images' / 'val').mkdir(parents=True)
    bad = tmp_path / 'annotations' / 'instances_val.json'
    bad.write_text('{"images": [')
    cfg = load_config(str(DET_CFG))
    cfg.val_dataloader.dataset.data_root = str(tmp_path) + '/'
    with pytest.raises(
            ValueError, match=r'instances_val.json does not parse as JSON'):
        check_data_paths(cfg, ('val', ))
    out = run_tool('tools/train.py', DET_CFG, '--cfg-options',
                   f'train_dataloader.dataset.dataset.data_root={tmp_path}/')
    assert out.returncode != 0
    assert 'train data folder not found' in out.stderr


def test_config_of_another_toolkit_is_refused(tmp_path):
    cfg = tmp_path / 'plain.py'
    cfg.write_text("default_scope = 'mmpretrain'\n")
    with pytest.raises(ValueError, match="default_scope='mmpretrain'"):
        load_config(str(cfg))


@pytest.mark.parametrize(
    'config,det', [
        ('configs/toy/mask-rcnn_swinv2-toy-w8_fpn_toy-coco.py', True),
        ('configs/toy/upernet_swinv2-toy-w8_toy-seg.py', False),
    ],
    ids=['mask-rcnn', 'upernet'])
def test_swin_v2_toy_configs_train_and_evaluate(toy_root, tmp_path, config,
                                                det):
    out = run_tool('tools/train.py', ROOT / config, '--work-dir', tmp_path,
                   '--cfg-options', *small_run_options(toy_root, 4, det=det))
    assert out.returncode == 0, out.stderr[-3000:]
    log = out.stdout + out.stderr
    assert len(logged_losses(log)) == 4
    metric = r'coco/bbox_mAP: [\d.]+' if det else r'mIoU: [\d.]+'
    assert re.search(metric, log)
    # The V2 backbone was trained: its checkpoint holds V2's parameters.
    from swin_mm.checkpoint.loading import read_checkpoint
    state = read_checkpoint(str(tmp_path / 'iter_4.pth'))['state_dict']
    # MMPretrain's V2 tree: merging at the start of stages 1-3.
    assert 'backbone.stages.0.blocks.0.attn.w_msa.logit_scale' in state
    assert 'backbone.stages.1.downsample.norm.weight' in state


def test_toy_detector_trains_with_layer_wise_lr_decay(toy_root, tmp_path):
    opts = [
        'optim_wrapper.constructor='
        'swin_mm.SwinLayerDecayOptimWrapperConstructor',
        'optim_wrapper.paramwise_cfg.layer_decay_rate=0.9'
    ]
    out = run_tool('tools/train.py', DET_CFG, '--work-dir', tmp_path,
                   '--cfg-options', *small_run_options(toy_root, 4), *opts)
    assert out.returncode == 0, out.stderr[-3000:]
    log = out.stdout + out.stderr
    # The toy Swin: depths 2, 2, 2, 2 -> 10 depths.
    assert re.search(
        r'Layer-wise lr decay 0.9 over 10 depths; \d+ of \d+ '
        'parameters without weight decay', log)
    losses = logged_losses(log)
    assert len(losses) == 4 and all(0 < v < 100 for v in losses), losses

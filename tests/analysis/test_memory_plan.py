"""The memory plan: counted parameter, gradient and optimizer bytes,
measured activations, the training size read from a config."""
import pytest
import torch

from swin_mm.analysis.memory_plan import (main, plan_rows,
                                          saved_activation_bytes,
                                          training_size)
from swin_mm.engine.launch import load_config
from swin_mm.models import SwinTransformer
from ..helpers import SMALL


def test_activations_scale_with_pixels_and_shrink_with_checkpointing():
    model = SwinTransformer(**SMALL)
    small = saved_activation_bytes(model, torch.randn(1, 3, 224, 224))
    large = saved_activation_bytes(model, torch.randn(1, 3, 448, 448))
    # Four times the pixels, every stage a multiple of the window at both.
    assert 3.8 < large / small < 4.2, (small, large)
    for stage in model.stages:
        stage.with_cp = True
    checkpointed = saved_activation_bytes(model, torch.randn(1, 3, 448, 448))
    assert 0 < checkpointed < large / 5


def test_plan_divides_the_training_state_not_the_activations():
    model = SwinTransformer(**SMALL)
    params = sum(p.numel() for p in model.parameters())
    rows = plan_rows(model, (512, 512), 2, [1, 8], 'AdamW', [(False, False),
                                                             (True, False),
                                                             (True, True)])
    by_key = {(r['ranks'], r['sharded'], r['with_cp']): r for r in rows}
    full, sharded = by_key[(8, False, False)], by_key[(8, True, False)]
    assert full['params'] == full['grads'] == 4 * params
    assert full['optimizer'] == 8 * params
    assert sharded['params'] == 4 * params / 8
    assert sharded['optimizer'] == params
    assert sharded['activations'] == full['activations'] > 0
    assert by_key[(8, True, True)]['activations'] < full['activations'] / 5
    assert by_key[(1, True, False)]['params'] == 4 * params


@pytest.mark.parametrize('config,size', [
    ('configs/detection/dino-5scale_swin-l_8xb2-12e_coco.py', (800, 1333)),
    ('configs/detection/mask2former_swin-t-p4-w7-224_8xb2-lsj-50e_coco.py',
     (1024, 1024)),
    ('configs/segmentation/upernet_swin-t-p4-w7_8xb2-160k_ade20k-512x512.py',
     (512, 512)),
    ('configs/detection/mask-rcnn_swin-t-p4-w7_fpn_1x_coco.py', (800, 1333)),
])
def test_training_size_follows_the_pipeline(config, size):
    assert training_size(load_config(config)) == size


def test_tool_prints_one_table_per_arch(capsys):
    assert main([
        'configs/toy/mask-rcnn_swin-toy-p4-w7_fpn_toy-coco.py', '--ranks', '2',
        '--archs', 'tiny', '--size', '64', '64'
    ]) == 0
    out = capsys.readouterr().out
    assert "Swin tiny (27.5M parameters), 64x64, batch 1 per rank, AdamW" \
        in out
    rows = [line for line in out.splitlines() if line.startswith('| 2 |')]
    assert len(rows) == 3

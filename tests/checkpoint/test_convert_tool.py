"""tools/model_converters/swin_convert.py: any layout in, swin_mm or the
official layout out."""
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from swin_mm.checkpoint import load_pretrained, to_openmmlab
from .helpers import assert_same_features, features, make_swin

# Subprocesses or large models: out of the everyday subset.
pytestmark = pytest.mark.slow

TOOL = Path(__file__).parents[2] / 'tools/model_converters/swin_convert.py'


def run_tool(*args):
    return subprocess.run(
        [sys.executable, str(TOOL), *map(str, args)],
        capture_output=True,
        text=True)


def test_help_explains_layouts_and_safety():
    out = run_tool('--help')
    assert out.returncode == 0
    for text in ('MMDetection', 'timm', 'torchvision', '--to',
                 'weights_only=True', '--allow-unsafe-unpickle'):
        assert text in out.stdout


def test_converts_mmdet_detector_checkpoint_and_back_to_official(
        tmp_path, source_model, x):
    src = tmp_path / 'mask_rcnn_swin.pth'
    torch.save(
        {
            'state_dict': {
                **{
                    f'backbone.{k}': v
                    for k, v in to_openmmlab(source_model.state_dict()).items(
                    )
                }, 'neck.lateral_convs.0.conv.weight': torch.zeros(4, 4, 1, 1)
            }
        }, src)

    out = run_tool(src, tmp_path / 'ours.pth')
    assert out.returncode == 0, out.stderr
    assert "detected layout 'openmmlab'" in out.stdout
    assert '1 non-backbone' in out.stdout
    converted = torch.load(tmp_path / 'ours.pth')['state_dict']
    assert set(converted) == set(source_model.state_dict())

    out = run_tool('--to', 'official', tmp_path / 'ours.pth',
                   tmp_path / 'official.pth')
    assert out.returncode == 0, out.stderr
    official = torch.load(tmp_path / 'official.pth')['state_dict']
    assert 'layers.0.downsample.reduction.weight' in official
    model = make_swin()
    assert load_pretrained(model, str(tmp_path / 'official.pth')).layout == \
        'official'
    assert_same_features(features(source_model, x), features(model, x))


def test_bad_input_exits_nonzero_with_one_line(tmp_path):
    out = run_tool(tmp_path / 'missing.pth', tmp_path / 'out.pth')
    assert out.returncode == 1
    assert out.stderr.startswith('error: Checkpoint file not found')

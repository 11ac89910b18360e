"""tools/deployment/export_onnx.py writes one file for a config's backbone
and neck, equal to PyTorch in ONNX Runtime."""
import os.path as osp
import re
import subprocess
import sys

import onnx
import pytest

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOY_DET = osp.join(ROOT,
                   'configs/toy/mask-rcnn_swin-toy-p4-w7_fpn_toy-coco.py')


@pytest.mark.slow
def test_export_tool_writes_backbone_and_neck_that_verify(tmp_path):
    out = str(tmp_path / 'toy.onnx')
    result = subprocess.run([
        sys.executable, 'tools/deployment/export_onnx.py', TOY_DET, '--out',
        out, '--with-neck', '--verify'
    ],
                            cwd=ROOT,
                            capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    diffs = [
        float(d) for d in re.findall(r'max abs diff (\S+)', result.stdout)
    ]
    assert len(diffs) == 3 and max(diffs) <= 1e-4, result.stdout
    model = onnx.load(out)
    assert len(model.graph.output) == 5  # FPN: 4 levels + max-pooled 5th
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param != '' for d in dims] == [True, False, True, True]


def test_export_tool_refuses_neck_when_the_model_has_none(tmp_path):
    config = tmp_path / 'no_neck.py'
    config.write_text(f"_base_ = ['{TOY_DET}']\nmodel = dict(neck=None)\n")
    result = subprocess.run([
        sys.executable, 'tools/deployment/export_onnx.py',
        str(config), '--out',
        str(tmp_path / 'x.onnx'), '--with-neck'
    ],
                            cwd=ROOT,
                            capture_output=True,
                            text=True)
    assert result.returncode != 0
    assert 'has no neck' in result.stderr


@pytest.mark.slow
def test_backbone_export_reads_a_checkpoint_without_neck(tmp_path):
    # An ImageNet classifier (MMPretrain's layout: backbone.* and head.*):
    # the backbone exports from it; neck and heads are not needed.
    import numpy as np
    import onnxruntime
    import torch

    from swin_mm.engine.launch import build_model
    reference = build_model(TOY_DET).backbone
    with torch.no_grad():
        for param in reference.parameters():
            param.normal_(0, 0.05)
    state = {f'backbone.{k}': v for k, v in reference.state_dict().items()}
    state['head.fc.weight'] = torch.zeros(10, 384)
    checkpoint = tmp_path / 'imagenet.pth'
    torch.save({'state_dict': state}, checkpoint)
    out = str(tmp_path / 'backbone.onnx')
    result = subprocess.run([
        sys.executable, 'tools/deployment/export_onnx.py', TOY_DET,
        str(checkpoint), '--out', out
    ],
                            cwd=ROOT,
                            capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    x = torch.randn(1, 3, 96, 160)
    with torch.no_grad():
        expected = [m.numpy() for m in reference.eval()(x)]
    got = onnxruntime.InferenceSession(out).run(None, {'image': x.numpy()})
    assert len(got) == 4
    assert max(float(np.abs(e - g).max())
               for e, g in zip(expected, got)) <= 1e-4

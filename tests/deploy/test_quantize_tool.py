"""int8 by NNCF judged by mAP: a toy Mask R-CNN, trained until it detects,
quantized by tools/deployment/quantize.py and evaluated by tools/test.py
with its backbone + neck in OpenVINO."""
import pytest

from swin_mm.datasets import ToySpec, generate_toy_dataset
from ..engine.conftest import DET_CFG, run_tool, small_run_options

pytestmark = pytest.mark.slow

ITERS = 150
#: int8 (and OpenVINO f32) against PyTorch fp32, in bbox / segm mAP.
INT8_BOUND = 0.03
F32_BOUND = 2e-3
METRICS = ('coco/bbox_mAP', 'coco/segm_mAP')


def on_train_split(root) -> list:
    """Evaluate on the training images: the short run has learned those
    (its val images it has not), so mAP is far from 0 and a drop shows."""
    ann = f'{root}/annotations/instances_train.json'
    return [
        'test_dataloader.dataset.ann_file=annotations/instances_train.json',
        'test_dataloader.dataset.data_prefix.img=images/train/',
        f'test_evaluator.ann_file={ann}'
    ]


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp('toy_q')
    generate_toy_dataset(str(root), ToySpec(num_train=8, num_val=4, seed=1))
    work = tmp_path_factory.mktemp('det_q')
    options = [
        *small_run_options(root, ITERS), 'param_scheduler.0.end=10',
        'param_scheduler.1.begin=10', f'param_scheduler.1.end={ITERS}',
        *on_train_split(root)
    ]
    out = run_tool('tools/train.py', DET_CFG, '--work-dir', work,
                   '--cfg-options', *options)
    assert out.returncode == 0, out.stderr[-3000:]
    return work / f'iter_{ITERS}.pth', options


def evaluate(trained, tmp_path, *runtime) -> dict:
    checkpoint, options = trained
    out = run_tool('tools/test.py', DET_CFG, checkpoint, '--work-dir',
                   tmp_path, *runtime, '--cfg-options', *options)
    assert out.returncode == 0, out.stderr[-3000:]
    return eval(out.stdout.strip().splitlines()[-1])


def test_int8_keeps_map_within_bound_of_fp32(trained, tmp_path):
    checkpoint, options = trained
    out = run_tool('tools/deployment/quantize.py', DET_CFG, checkpoint,
                   '--out', tmp_path / 'q', '--calib', 8, '--cfg-options',
                   *options)
    assert out.returncode == 0, out.stderr[-3000:]
    assert 'int8: ' in out.stdout and 'linear layers' in out.stdout
    int8_file = tmp_path / 'q/backbone_neck_int8.xml'
    assert int8_file.is_file()

    fp32 = evaluate(trained, tmp_path / 'pt')
    assert fp32['coco/bbox_mAP'] > 0.1, fp32  # the model detects
    openvino_f32 = evaluate(trained, tmp_path / 'ov', '--backbone-runtime',
                            'openvino', '--model',
                            tmp_path / 'q/backbone_neck.onnx')
    int8 = evaluate(trained, tmp_path / 'int8', '--backbone-runtime',
                    'openvino', '--precision', 'int8', '--model', int8_file)
    for key in METRICS:
        assert abs(openvino_f32[key] - fp32[key]) <= F32_BOUND, key
        assert abs(int8[key] - fp32[key]) <= INT8_BOUND, (key, fp32, int8)

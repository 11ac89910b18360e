"""A detector's backbone (+ neck) run by another runtime or precision:
the file is matched to the model before use, and every combination that
cannot work is refused with its reason."""
import numpy as np
import pytest
import torch
import torch.nn as nn
from mmdet.models.necks import FPN

from swin_mm.deploy import BackboneWithNeck, export_onnx, runtimes
from swin_mm.deploy.evaluation import run_backbone_in
from swin_mm.models import SwinTransformer
from ..helpers import SMALL, hide_package, randomize


class Detector(nn.Module):
    """What run_backbone_in needs of an MMDetection detector."""

    def __init__(self,
                 embed_dims: int = 16,
                 seed: int = 0,
                 drop_path_rate: float = 0.) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.backbone = SwinTransformer(
            arch=dict(
                SMALL, embed_dims=embed_dims, drop_path_rate=drop_path_rate),
            window_size=7)
        randomize(self.backbone)
        self.neck = FPN([embed_dims * 2**i for i in range(4)], 24, 5)

    def forward(self, x):
        return self.neck(self.backbone(x))


@pytest.fixture(scope='module')
def files(tmp_path_factory):
    """The reference detector's backbone and backbone + neck, exported."""
    folder = tmp_path_factory.mktemp('runtimes')
    model = Detector().eval()
    return {
        'backbone':
        export_onnx(model.backbone, str(folder / 'backbone.onnx')),
        'backbone_neck':
        export_onnx(
            BackboneWithNeck(model.backbone, model.neck),
            str(folder / 'backbone_neck.onnx')),
    }


def maps(model, x):
    with torch.no_grad():
        return [m.numpy() for m in model(x)]


@pytest.mark.slow
@pytest.mark.parametrize('runtime', ['onnxruntime', 'openvino'])
@pytest.mark.parametrize('part', ['backbone', 'backbone_neck'])
def test_backbone_file_runs_in_place_of_the_modules(files, runtime, part):
    model = Detector().eval()
    x = torch.randn(2, 3, 97, 131)
    expected = maps(model, x)
    text = run_backbone_in(model, runtime, 'f32', files[part])
    assert isinstance(model.backbone, runtimes.RuntimeModule)
    assert isinstance(model.neck,
                      runtimes.PassThrough if part == 'backbone_neck' else FPN)
    assert text.startswith('backbone + neck' if part ==
                           'backbone_neck' else 'backbone in')
    got = maps(model, x)
    assert max(float(np.abs(e - g).max())
               for e, g in zip(expected, got)) < 1e-4


@pytest.mark.slow
def test_without_a_file_the_loaded_model_is_exported(tmp_path):
    model = Detector().eval()
    x = torch.randn(1, 3, 64, 96)
    expected = maps(model, x)
    run_backbone_in(model, 'openvino', 'f32', export_dir=str(tmp_path))
    assert (tmp_path / 'backbone_neck.onnx').is_file()
    assert isinstance(model.neck, runtimes.PassThrough)
    got = maps(model, x)
    assert max(float(np.abs(e - g).max())
               for e, g in zip(expected, got)) < 1e-4


def test_pytorch_bf16_runs_backbone_and_neck_under_autocast():
    model = Detector().eval()
    x = torch.randn(1, 3, 64, 64)
    expected = maps(model, x)
    run_backbone_in(model, 'pytorch', 'bf16')
    assert isinstance(model.backbone, runtimes.Autocast)
    assert isinstance(model.neck, runtimes.Autocast)
    got = maps(model, x)
    assert all(g.dtype == np.float32 for g in got)
    error = max(
        np.linalg.norm(g - e) / np.linalg.norm(e)
        for e, g in zip(expected, got))
    assert 1e-5 < error < 0.05  # bf16 rounding: changed, but close


@pytest.mark.slow
def test_model_in_training_mode_is_probed_in_eval_mode(files):
    # As the runner hands it over before the test loop: training mode, with
    # stochastic depth that would change the probe's maps on every call.
    model = Detector(drop_path_rate=0.5).train()
    run_backbone_in(model, 'openvino', 'f32', files['backbone_neck'])
    assert not model.training


@pytest.mark.slow
def test_file_of_other_weights_is_refused(files):
    # Same architecture, other seed: the file's maps differ from the model's.
    with pytest.raises(ValueError, match='holds other weights'):
        run_backbone_in(
            Detector(seed=1), 'onnxruntime', 'f32', files['backbone_neck'])


@pytest.mark.slow
def test_file_of_another_backbone_is_refused_naming_channels(files):
    with pytest.raises(ValueError, match=r'channels \[16, 32, 64, 128\]'):
        run_backbone_in(
            Detector(embed_dims=24), 'openvino', 'f32', files['backbone'])


@pytest.mark.slow
def test_int8_is_refused_without_a_quantized_file(files):
    with pytest.raises(ValueError, match='int8 needs a quantized model'):
        run_backbone_in(Detector(), 'openvino', 'int8')
    with pytest.raises(ValueError, match='holds no int8 quantization'):
        run_backbone_in(Detector(), 'openvino', 'int8', files['backbone'])


@pytest.mark.parametrize('runtime', ['pytorch', 'onnxruntime'])
def test_int8_is_refused_by_runtimes_without_it(runtime):
    with pytest.raises(ValueError, match='does not run int8'):
        runtimes.check_runtime(runtime, 'int8')


def test_bf16_is_refused_on_a_cpu_without_bf16(monkeypatch):
    monkeypatch.setattr(runtimes, 'cpu_has_bf16', lambda runtime: False)
    with pytest.raises(ValueError, match='no bf16 matrix instructions'):
        runtimes.check_runtime('openvino', 'bf16')


def test_runtime_not_installed_says_how_to_install(monkeypatch):
    hide_package(monkeypatch, 'openvino')
    with pytest.raises(ImportError, match=r"pip install 'swin_mm\[deploy\]'"):
        runtimes.check_runtime('openvino', 'f32')


@pytest.mark.slow
def test_onnx_file_is_read_without_openvino(files, monkeypatch):
    """An ONNX Runtime user need not install OpenVINO to have a file
    checked; OpenVINO reads the same signature."""
    file = files['backbone_neck']
    openvino_model = runtimes.require('openvino').Core().read_model(file)
    expected = (openvino_model.inputs[0].get_partial_shape()[1].get_length(), [
        o.get_partial_shape()[1].get_length() for o in openvino_model.outputs
    ])

    def no_openvino(runtime):
        raise AssertionError(f'{runtime} was imported')

    monkeypatch.setattr(runtimes, 'require', no_openvino)
    assert runtimes.file_signature(file) == expected == (3, [24] * 5)
    assert not runtimes.is_quantized(file)


@pytest.mark.slow
def test_model_file_with_the_pytorch_runtime_is_refused(files):
    with pytest.raises(ValueError, match='runs in onnxruntime or openvino'):
        run_backbone_in(Detector(), 'pytorch', 'f32', files['backbone'])


def test_unknown_runtime_and_precision_are_refused():
    with pytest.raises(ValueError, match='runtime must be one of'):
        runtimes.check_runtime('tensorrt', 'f32')
    with pytest.raises(ValueError, match='precision must be one of'):
        runtimes.check_runtime('openvino', 'fp16')


@pytest.mark.slow
def test_openvino_bf16_runs_in_bf16_to_the_outputs(files):
    if not runtimes.cpu_has_bf16('openvino'):
        pytest.skip('this CPU has no bf16 matrix instructions')
    compiled = runtimes.openvino_compiled(files['backbone'], 'bf16', 1)
    float_ops = ('Eltwise', 'MVN', 'Subgraph')
    f32_ops = []
    for op in compiled.get_runtime_model().get_ordered_ops():
        info = op.get_rt_info()
        if info['runtimePrecision'].astype(str) == 'f32' and \
                info['layerType'].astype(str) in float_ops:
            f32_ops.append(op.get_friendly_name())
    assert f32_ops == []  # no f32 tail: residual adds and norms in bf16
    model = Detector().eval()
    x = torch.randn(2, 3, 97, 131)
    expected = maps(model.backbone, x)
    got = runtimes.openvino_runner(files['backbone'], 'bf16', 1)(x.numpy())
    assert all(g.dtype == np.float32 for g in got)
    error = max(
        np.linalg.norm(g - e) / np.linalg.norm(e)
        for e, g in zip(expected, got))
    assert 1e-4 < error < 0.05

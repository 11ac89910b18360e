"""The runtime benchmark's parts: runners agree with PyTorch, timing covers
every runner, the error is relative."""
import numpy as np
import pytest
import torch

from benchmarks import openvino_profile, runtimes
from swin_mm.deploy import export_onnx
from swin_mm.deploy.runtimes import is_quantized
from swin_mm.models import SwinTransformer


def test_relative_error_is_norm_of_difference_over_norm_of_reference():
    ref = [np.array([3.0, 4.0]), np.ones(4)]
    got = [np.array([3.0, 4.5]), np.ones(4)]
    assert runtimes.relative_error(got, ref) == pytest.approx(0.1)
    assert runtimes.relative_error(ref, ref) == 0


def test_time_runners_times_every_runner_each_round():
    calls = []
    medians = runtimes.time_runners(
        {name: (lambda x, n=name: calls.append(n))
         for name in 'ab'},
        np.zeros(1),
        rounds=3)
    assert set(medians) == {'a', 'b'}
    assert calls == ['a', 'b'] + ['a', 'b'] * 3  # warm-up, then interleaved


@pytest.mark.slow
def test_every_runtime_runs_the_exported_backbone(tmp_path):
    torch.manual_seed(0)
    model = SwinTransformer(
        arch=dict(embed_dims=16, depths=(2, 2), num_heads=(1, 2)),
        out_indices=(0, 1)).eval()
    file = export_onnx(model, str(tmp_path / 'm.onnx'))
    x = torch.randn(1, 3, 64, 96).numpy()
    ref = runtimes.torch_runner(model)(x)
    for run in (runtimes.onnxruntime_runner(file, 1),
                runtimes.openvino_runner(file, 'f32', 1),
                runtimes.openvino_runner(file, 'f32', 1, shape=x.shape)):
        assert runtimes.relative_error(run(x), ref) < 1e-5
    # Fixed to one shape, the compiled model takes no other.
    with pytest.raises(Exception, match='(?i)shape|dim'):
        runtimes.openvino_runner(
            file, 'f32', 1, shape=x.shape)(
                np.zeros((1, 3, 64, 64), np.float32))

    shares = runtimes.time_shares(
        runtimes.openvino_compiled(file, 'f32', 1, profile=True), x)
    assert set(shares) == {*runtimes.NODE_GROUPS, 'other'}
    assert sum(shares.values()) == pytest.approx(1)
    assert shares['linear layers'] > 0 and shares['LayerNorm'] > 0
    kinds = runtimes.time_shares(
        runtimes.openvino_compiled(file, 'f32', 1, profile=True),
        x,
        group=openvino_profile.node_kind)
    assert sum(kinds.values()) == pytest.approx(1)
    assert any(k.startswith('FullyConnected (') for k in kinds), kinds
    assert runtimes.relative_error(
        runtimes.openvino_runner(file, 'bf16', 1)(x), ref) < 0.05
    assert runtimes.relative_error(
        runtimes.torch_runner(model, bf16=True)(x), ref) < 0.05
    int8 = runtimes.quantized_file(file, x.shape, str(tmp_path / 'q.xml'), 4)
    assert is_quantized(int8) and not is_quantized(file)
    assert runtimes.relative_error(
        runtimes.openvino_runner(int8, 'int8', 1)(x), ref) < 0.2


def test_openvino_cases_cover_each_precision_once_per_model():
    kinds = ('float', 'int8')
    files = {(m, k): f'{m}_{k}' for m in runtimes.MODELS for k in kinds}
    cases = runtimes.openvino_cases(files, (1, 3, 64, 64))
    for precision in runtimes.PRECISIONS:
        kind = 'int8' if precision == 'int8' else 'float'
        for model in runtimes.MODELS:
            assert cases[model, f'OpenVINO {precision}'] == (f'{model}_{kind}',
                                                             precision, None)
        assert cases['swin_mm', f'OpenVINO {precision}, fixed size'] == (
            f'swin_mm_{kind}', precision, (1, 3, 64, 64))
    assert len(cases) == 3 * len(runtimes.PRECISIONS)

"""One exported graph serves every batch and size, equal to eager: ONNX in
ONNX Runtime and OpenVINO, torch.export, torch.compile; export leaves no
traced state behind; what cannot be exported says so."""
import numpy as np
import pytest
import torch

from swin_mm.deploy import (ExportError, compile_dynamic, export_onnx,
                            export_program)
from swin_mm.deploy.export import reshape_sizes
from swin_mm.models import SwinTransformer, SwinTransformerV2
from swin_mm.models.tracing import clear_size_caches
from ..helpers import SMALL, randomize

#: (batch, H, W): square, odd, detection-sized, small, extreme aspect, and
#: a map smaller than one window at every stage.
SIZES = [(1, 224, 224), (4, 224, 224), (1, 511, 511), (4, 112, 137),
         (1, 800, 1333), (1, 112, 137), (1, 32, 2048), (2, 20, 20)]

#: The tracing example: its stage sizes (and their padded sizes) must not
#: appear as constants in the graph.
EXAMPLE = (3, 3, 237, 349)


def small_model(version: str) -> torch.nn.Module:
    torch.manual_seed(0)
    if version == 'v1':
        model = SwinTransformer(arch=SMALL, window_size=7)
    else:
        model = SwinTransformerV2(arch=SMALL, window_size=8, always_shift=True)
    randomize(model)
    return model.eval()


def eager(model: torch.nn.Module, x: torch.Tensor) -> list:
    with torch.no_grad():
        return [out.numpy() for out in model(x)]


def max_diff(expected: list, got: list) -> float:
    assert [e.shape for e in expected] == [g.shape for g in got]
    return max(float(np.abs(e - g).max()) for e, g in zip(expected, got))


def traced_sizes(model: torch.nn.Module, example) -> set:
    """Sizes that depend on the example: batch, each stage's H, W, padded
    H, W, their products and token counts (except values that are also
    structural: window, channels, heads)."""
    B, _, H, W = example
    window = max(model.window_size, 8)
    sizes = {B}
    h, w = -(-H // 4), -(-W // 4)
    for _ in range(4):
        hp, wp = -(-h // window) * window, -(-w // window) * window
        sizes |= {h, w, hp, wp, h * w, hp * wp, B * h * w, B * hp * wp}
        h, w = -(-h // 2), -(-w // 2)
    structural = {-1, 0, 1, 2, 3, 4, 7, 8, 49, 64}
    structural |= {c * k for c in (16, 32, 64, 128) for k in (1, 3, 4)}
    return sizes - structural


@pytest.mark.slow
@pytest.mark.parametrize('version', ['v1', 'v2'])
def test_one_onnx_file_matches_eager_in_onnxruntime_and_openvino(
        version, tmp_path):
    import onnxruntime
    import openvino
    model = small_model(version)
    file = export_onnx(
        model, str(tmp_path / 'swin.onnx'), example=torch.randn(*EXAMPLE))
    baked = [(name, shape) for name, shape in reshape_sizes(file)
             if set(shape) & traced_sizes(model, EXAMPLE)]
    assert not baked, f'reshapes with sizes of the example: {baked}'

    session = onnxruntime.InferenceSession(
        file, providers=['CPUExecutionProvider'])
    compiled = openvino.Core().compile_model(
        file, 'CPU', {'INFERENCE_PRECISION_HINT': 'f32'})
    for batch, h, w in SIZES:
        x = torch.randn(batch, 3, h, w)
        expected = eager(model, x)
        ort_diff = max_diff(expected, session.run(None, {'image': x.numpy()}))
        ov_out = compiled(x.numpy())
        ov_diff = max_diff(expected, [ov_out[i] for i in range(len(expected))])
        assert ort_diff <= 1e-4, (batch, h, w, ort_diff)
        assert ov_diff <= 1e-4, (batch, h, w, ov_diff)

    # Fixed to one serving shape in OpenVINO (Model.reshape before
    # compiling: the shape arithmetic folds into constants), still equal.
    fixed = openvino.Core().read_model(file)
    fixed.reshape({fixed.inputs[0]: [2, 3, 97, 131]})
    compiled = openvino.Core().compile_model(
        fixed, 'CPU', {'INFERENCE_PRECISION_HINT': 'f32'})
    x = torch.randn(2, 3, 97, 131)
    ov_out = compiled(x.numpy())
    assert max_diff(
        eager(model, x),
        [ov_out[i] for i in range(len(model.out_indices))]) <= 1e-4

    # Wrong rank or channels: the runtime's own error.
    for bad in (np.zeros((3, 64, 64),
                         np.float32), np.zeros((1, 4, 64, 64), np.float32)):
        with pytest.raises(Exception, match='(?i)invalid|rank|dimension'):
            session.run(None, {'image': bad})


@pytest.mark.slow
@pytest.mark.parametrize('version', ['v1', 'v2'])
def test_torch_export_program_matches_eager_at_every_size(version):
    model = small_model(version)
    program = export_program(model, torch.randn(*EXAMPLE)).module()
    for batch, h, w in SIZES:
        x = torch.randn(batch, 3, h, w)
        with torch.no_grad():
            got = [out.numpy() for out in program(x)]
        assert max_diff(eager(model, x), got) <= 1e-4, (batch, h, w)


@pytest.mark.slow
def test_plain_torch_export_with_dims_serves_every_size():
    # As ExecuTorch, AOTInductor or a user calls it: no swin_mm helper, a
    # square example whose last stage holds one window, sizes 32-2048.
    from torch.export import Dim
    model = small_model('v1')
    dims = {
        0: Dim('batch', min=1, max=64),
        2: Dim('h', min=32, max=2048),
        3: Dim('w', min=32, max=2048)
    }
    with torch.no_grad():
        program = torch.export.export(
            model, (torch.randn(2, 3, 224, 224), ),
            dynamic_shapes=(dims, )).module()
    for batch, h, w in [(1, 224, 224), (3, 100, 333), (1, 32, 32),
                        (1, 32, 2048)]:
        x = torch.randn(batch, 3, h, w)
        with torch.no_grad():
            got = [out.numpy() for out in program(x)]
        assert max_diff(eager(model, x), got) <= 1e-4, (batch, h, w)


@pytest.mark.slow
@pytest.mark.parametrize(
    'backend',
    ['aot_eager',
     pytest.param('inductor', marks=pytest.mark.inductor)])
def test_torch_compile_dynamic_serves_three_sizes_with_one_compilation(
        backend):
    """Dynamo traces one graph (no graph break, no recompilation) for
    three sizes; ``aot_eager`` runs it through AOT autograd's tracing,
    ``inductor`` (torch.compile's default) also generates and runs its
    kernels for symbolic sizes (6-8 minutes on 2 cores:
    ``make test-inductor``)."""
    from torch._dynamo.utils import counters
    torch._dynamo.reset()
    counters.clear()
    model = small_model('v1')
    compiled = compile_dynamic(model, backend=backend)
    # Square first (no duck sizing), then sizes with 1-pixel stage maps.
    for h, w in [(224, 224), (97, 131), (32, 2048)]:
        x = torch.randn(2, 3, h, w)
        with torch.no_grad():
            got = [out.numpy() for out in compiled(x)]
        assert max_diff(eager(model, x), got) <= 1e-4, (h, w)
    assert counters['stats']['unique_graphs'] == 1, dict(counters['stats'])
    torch._dynamo.reset()


def with_fast_path(model: torch.nn.Module, on: bool) -> torch.nn.Module:
    model.set_fast_path(on)
    return model


@pytest.mark.slow
@pytest.mark.parametrize('fast_path', [True, False])
def test_export_leaves_nothing_that_a_later_eager_forward_reads(fast_path):
    """Export first (dynamic sizes on the fast path, a fixed size on the
    reference path), then eager at that size: plain tensors, equal to a
    fresh model's."""
    clear_size_caches()
    model = with_fast_path(small_model('v1'), fast_path)
    x = torch.randn(2, 3, 97, 131)
    if fast_path:
        export_program(model, x)
    else:
        with torch.no_grad():
            torch.export.export(model, (x, ))
    with torch.no_grad():
        after = model(x)
    clear_size_caches()
    with torch.no_grad():
        fresh = with_fast_path(small_model('v1'), fast_path)(x)
    for a, b in zip(after, fresh):
        assert type(a) is torch.Tensor
        assert torch.equal(a, b)


def test_what_cannot_be_exported_says_what_and_why(tmp_path):
    reference = SwinTransformer(arch=SMALL, fast_path=False)
    with pytest.raises(ExportError, match='fast_path=False'):
        export_program(reference)
    hooked = SwinTransformer(arch=SMALL)
    hooked.stages[1].blocks[0].attn.register_forward_hook(lambda *a: None)
    with pytest.raises(ExportError, match=r'stages\.1\.blocks\.0\.attn'):
        export_program(hooked)
    v2 = SwinTransformerV2(arch=SMALL)
    with pytest.raises(ExportError, match='always_shift'):
        export_program(v2)
    with pytest.raises(ExportError, match='No swin_mm'):
        export_program(torch.nn.Conv2d(3, 3, 1))
    with pytest.raises(ValueError, match='opset'):
        export_onnx(SwinTransformer(arch=SMALL), str(tmp_path / 'x'), opset=13)

"""swin_mm's Linear computes what nn.Linear computes, through oneDNN where
that applies, and falls back to F.linear everywhere else.

The AVX-512 condition and the size floor are lifted here (through the fast
path's settings), so that the oneDNN path is exercised (and checked) on any
CPU and small shapes: oneDNN runs on every x86 CPU, the conditions only say
where it was measured to be faster.
"""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

from swin_mm.models import fast_path
from swin_mm.models.fast_path.linear import (Linear, linear, linear_gelu,
                                             onednn_linear_applies)


class OneDnnProducts(TorchDispatchMode):
    """Records the post-op of each oneDNN product that runs ('none' for a
    plain product)."""

    def __init__(self):
        super().__init__()
        self.post_ops = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func.overloadpacket is torch.ops.mkldnn._linear_pointwise:
            self.post_ops.append(args[3])
        return func(*args, **(kwargs or {}))


@pytest.fixture
def avx512():
    """Take the oneDNN path whatever the CPU and size; the list of the
    products' post-ops."""
    with fast_path.configure(onednn=True, min_onednn_macs=0), \
            OneDnnProducts() as products:
        yield products.post_ops


def _pair(in_features, out_features, bias):
    torch.manual_seed(0)
    ref = nn.Linear(in_features, out_features, bias=bias)
    ours = Linear(in_features, out_features, bias=bias)
    ours.load_state_dict(ref.state_dict())
    return ref, ours


@pytest.mark.parametrize('shape', [(37, 96), (2, 49, 96), (3, 5, 7, 96)])
@pytest.mark.parametrize('bias', [True, False])
def test_onednn_linear_equals_nn_linear_with_gradients(avx512, shape, bias):
    ref, ours = _pair(96, 288, bias)
    x = torch.randn(shape)
    grad = torch.randn(*shape[:-1], 288)
    outs, grads = [], []
    for layer in (ref, ours):
        inp = x.clone().requires_grad_(True)
        out = layer(inp)
        out.backward(grad)
        outs.append(out.detach())
        grads.append([inp.grad] + [p.grad for p in layer.parameters()])
    assert outs[1].shape == outs[0].shape
    assert (outs[1] - outs[0]).abs().max() <= 1e-5
    for ref_grad, our_grad in zip(*grads):
        scale = ref_grad.abs().max()
        assert (our_grad - ref_grad).abs().max() <= 1e-5 * scale
    # The forward product and the input gradient went through oneDNN.
    assert len(avx512) == 2


def test_onednn_linear_output_can_be_modified_in_place(avx512):
    # The block adds its residual into the branch's output in place; a
    # custom Function's output must not be a view for that.
    ref, ours = _pair(16, 8, True)
    x = torch.randn(2, 3, 16, requires_grad=True)
    out = ours(x).add_(1.0)
    # Not an autograd view either, as F.linear's output is not: an in-place
    # op on a view is recorded as CopySlices, which copies the whole
    # gradient in backward.
    assert type(out.grad_fn).__name__ == 'AddBackward0'
    assert len(avx512) == 1
    out.square().sum().backward()
    ours_grad = x.grad.clone()
    x.grad = None
    ref(x).add_(1.0).square().sum().backward()
    assert (ours_grad - x.grad).abs().max() <= 1e-5
    assert ours.weight.grad is not None


def test_onednn_linear_without_autograd_is_the_plain_product(avx512):
    ref, ours = _pair(64, 32, True)
    x = torch.randn(10, 64)
    with torch.no_grad():
        out = ours(x)
    assert out.grad_fn is None
    assert (out - ref(x).detach()).abs().max() <= 1e-5
    assert len(avx512) == 1
    # Frozen weights and an input without grad: no autograd either.
    for param in ours.parameters():
        param.requires_grad_(False)
    assert ours(x).grad_fn is None and len(avx512) == 2


def test_linear_falls_back_to_f_linear_where_onednn_does_not_apply(avx512):
    ref, ours = _pair(16, 8, True)
    x = torch.randn(4, 16)
    assert onednn_linear_applies(x, ours.weight)
    # Autocast: the same bf16 product F.linear gives.
    with torch.autocast('cpu', dtype=torch.bfloat16):
        assert not onednn_linear_applies(x, ours.weight)
        out = ours(x)
        assert out.dtype == torch.bfloat16
        assert torch.equal(out, F.linear(x, ours.weight, ours.bias))
    # PyTorch's own switch for oneDNN.
    with torch.backends.mkldnn.flags(enabled=False):
        assert not onednn_linear_applies(x, ours.weight)
    # Other dtypes, and a 1-D input.
    assert not onednn_linear_applies(x.double(), ours.weight.double())
    assert torch.equal(
        linear(x[0], ours.weight, ours.bias),
        F.linear(x[0], ours.weight, ours.bias))
    # Tracing keeps the standard op, so graph tools can read it.
    graph = str(torch.jit.trace(ours, x, check_trace=False).graph)
    assert 'aten::linear' in graph and 'mkldnn' not in graph
    assert avx512 == []


def test_onednn_linear_follows_the_cpu_unless_set():
    x, weight = torch.randn(4, 16), torch.randn(8, 16)
    with fast_path.configure(min_onednn_macs=0):
        # By default on AVX-512 CPUs only.
        assert onednn_linear_applies(x, weight) == (
            torch.backends.cpu.get_cpu_capability() == 'AVX512')
        with fast_path.configure(onednn=False):
            assert not onednn_linear_applies(x, weight)
        with fast_path.configure(onednn=True):
            assert onednn_linear_applies(x, weight)


def test_small_products_stay_on_f_linear():
    weight = torch.randn(384, 96)
    with fast_path.configure(onednn=True):
        tokens = fast_path.config.min_onednn_macs // (96 * 384)
        assert not onednn_linear_applies(torch.randn(tokens, 96), weight)
        assert onednn_linear_applies(torch.randn(tokens + 1, 96), weight)
        # A 3-D input counts all its tokens.
        assert onednn_linear_applies(torch.randn(tokens + 1, 1, 96), weight)


@pytest.mark.parametrize('approximate', ['none', 'tanh'])
def test_linear_gelu_runs_gelu_as_onednn_post_op_without_autograd(
        avx512, approximate):
    torch.manual_seed(0)
    x, weight, bias = torch.randn(2, 37, 96), torch.randn(384, 96), \
        torch.randn(384)
    expected = F.gelu(F.linear(x, weight, bias), approximate=approximate)
    with torch.no_grad():
        out = linear_gelu(x, weight, bias, approximate)
    assert out.shape == expected.shape
    assert (out - expected).abs().max() <= 1e-5 * expected.abs().max()
    assert avx512 == ['gelu']


def test_linear_gelu_with_autograd_is_linear_then_gelu(avx512):
    torch.manual_seed(0)
    x = torch.randn(37, 96, requires_grad=True)
    weight = torch.randn(384, 96, requires_grad=True)
    grads = []
    for fn in (linear_gelu, lambda *a: F.gelu(F.linear(*a))):
        x.grad = weight.grad = None
        fn(x, weight).square().sum().backward()
        grads.append((x.grad, weight.grad))
    for ours, ref in zip(*grads):
        assert (ours - ref).abs().max() <= 1e-5 * ref.abs().max()
    assert avx512 == ['none', 'none']  # forward and input gradient


def test_fast_path_mlp_runs_gelu_as_post_op_only_without_autograd(avx512):
    from swin_mm.models.backbones.swin_transformer import Mlp
    from swin_mm.models.fast_path.block import mlp as fast_mlp
    torch.manual_seed(0)
    mlp = Mlp(16, 64).eval()
    x = torch.randn(5, 16)
    expected = mlp.fc2(F.gelu(F.linear(x, mlp.fc1.weight, mlp.fc1.bias)))
    avx512.clear()
    with torch.no_grad():
        fused = fast_mlp(mlp, x)
    assert avx512 == ['gelu', 'none']
    assert (fused - expected).abs().max() <= 1e-5
    # The module itself: fc1, then its activation.
    avx512.clear()
    with torch.no_grad():
        assert (mlp(x) - fused).abs().max() <= 1e-5
    assert avx512 == ['none', 'none']
    with torch.no_grad():
        relu = Mlp(16, 64, act_cfg=dict(type='ReLU'))
        tanh = Mlp(16, 64, act_cfg=dict(type='GELU', approximate='tanh'))
        avx512.clear()
        fast_mlp(relu, x)
        fast_mlp(tanh, x)
        assert avx512 == ['none', 'none', 'gelu', 'none']
    avx512.clear()
    fast_mlp(mlp, x.requires_grad_())  # autograd: no post-op
    assert avx512 == ['none', 'none']


@pytest.mark.parametrize('with_cp', [False, True])
def test_backbone_trains_through_onednn_as_through_f_linear(avx512, with_cp):
    from swin_mm.models import SwinTransformer
    torch.manual_seed(0)
    model = SwinTransformer(
        embed_dims=16,
        depths=(2, 2, 2, 2),
        num_heads=(1, 2, 4, 8),
        drop_path_rate=0.,
        with_cp=with_cp).train()
    with torch.no_grad():  # away from init: every gradient well above zero
        for param in model.parameters():
            param.add_(0.1 * torch.randn_like(param))
    x = torch.randn(2, 3, 150, 203)

    def outputs_and_grads():
        model.zero_grad(set_to_none=True)
        outs = model(x)
        sum((out * out).mean() for out in outs).backward()
        return ([out.detach() for out in outs], {
            name: p.grad.clone()
            for name, p in model.named_parameters()
        })

    onednn_outs, onednn_grads = outputs_and_grads()
    assert len(avx512) > 0  # products of every block went through oneDNN
    with fast_path.configure(onednn=False):
        ref_outs, ref_grads = outputs_and_grads()
    for ours, ref in zip(onednn_outs, ref_outs):
        assert (ours - ref).abs().max() <= 1e-5
    assert onednn_grads.keys() == ref_grads.keys()
    for name, ref in ref_grads.items():
        diff = (onednn_grads[name] - ref).abs().max()
        assert diff <= 1e-5 * ref.abs().max(), name


def test_backbone_inference_through_onednn_as_through_f_linear(avx512):
    # Chunked CPU inference with every product, and the MLP's GELU as a
    # post-op, through oneDNN, against the same model through F.linear.
    from swin_mm.models import SwinTransformer
    torch.manual_seed(0)
    model = SwinTransformer(
        embed_dims=16, depths=(2, 2, 2, 2), num_heads=(1, 2, 4, 8)).eval()
    with torch.no_grad():
        for param in model.parameters():
            param.add_(0.1 * torch.randn_like(param))
        x = torch.randn(2, 3, 150, 203)
        onednn_outs = model(x)
        assert avx512.count('gelu') == 8  # one chunk per block at this size
        with fast_path.configure(onednn=False):
            ref_outs = model(x)
    for ours, ref in zip(onednn_outs, ref_outs):
        assert ours.shape == ref.shape
        assert (ours - ref).abs().max() <= 1e-5

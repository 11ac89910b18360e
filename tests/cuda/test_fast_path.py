"""On CUDA the fast path computes what the reference path computes, with
PyTorch's memory-efficient attention kernel, and without waiting for the
host at a new input size."""
import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

from ..helpers import CountOps, clear_size_caches
from . import REQUIRES_CUDA
from .models import SIZES, reference_and_fast

pytestmark = REQUIRES_CUDA


def outputs_and_grads(model, x, train):
    """Outputs, and in training the gradients of a loss on all four maps
    (parameters and input)."""
    model.train(train)
    x = x.clone().requires_grad_(train)
    with torch.set_grad_enabled(train):
        outs = model(x)
        if not train:
            return list(outs), {}
        sum((o.float()**2).mean() for o in outs).backward()
    grads = {
        n: p.grad
        for n, p in model.named_parameters() if p.grad is not None
    }
    grads['input'] = x.grad
    return [o.detach() for o in outs], grads


def assert_grads_close(ref, fast, tol):
    """Same parameters with gradients, each within tol of its largest."""
    assert ref.keys() == fast.keys()
    for name in ref:
        scale = ref[name].abs().max().item() + 1e-12
        diff = (ref[name] - fast[name]).abs().max().item()
        assert diff / scale <= tol, (name, diff / scale)


@pytest.mark.parametrize('version', ['v1', 'v2'])
@pytest.mark.parametrize('size', SIZES)
@pytest.mark.parametrize('train', [False, True])
@pytest.mark.parametrize('with_cp', [False, True])
def test_fast_path_equals_reference_fp32(version, size, train, with_cp):
    ref, fast = reference_and_fast(version, with_cp=with_cp)
    x = torch.randn(2, 3, *size, device='cuda')
    ref_outs, ref_grads = outputs_and_grads(ref, x, train)
    fast_outs, fast_grads = outputs_and_grads(fast, x, train)
    for a, b in zip(ref_outs, fast_outs):
        assert a.shape == b.shape
        assert (a - b).abs().max().item() <= 1e-4
    assert_grads_close(ref_grads, fast_grads, 1e-4)


@pytest.mark.parametrize('version', ['v1', 'v2'])
@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
@pytest.mark.parametrize('size', SIZES)
@pytest.mark.parametrize('train', [False, True])
@pytest.mark.parametrize('with_cp', [False, True])
def test_fast_path_under_autocast_is_finite_and_close(version, dtype, size,
                                                      train, with_cp):
    ref, fast = reference_and_fast(version, with_cp=with_cp)
    x = torch.randn(2, 3, *size, device='cuda')
    results = []
    for model in (ref, fast):
        with torch.autocast('cuda', dtype=dtype):
            results.append(outputs_and_grads(model, x, train))
    (ref_outs, ref_grads), (fast_outs, fast_grads) = results
    for a, b in zip(ref_outs, fast_outs):
        assert torch.isfinite(b).all()
        torch.testing.assert_close(b.float(), a.float(), rtol=0.05, atol=0.05)
    # Without loss scaling, V2's fp16 weight gradients can overflow on
    # either path (cosine attention divides by |q| and |k|): the fast path
    # adds no overflow of its own; in bf16, and for V1, there is none.
    overflow = {
        name: {n
               for n, g in grads.items() if not torch.isfinite(g).all()}
        for name, grads in (('ref', ref_grads), ('fast', fast_grads))
    }
    assert overflow['fast'] <= overflow['ref'], overflow
    if dtype == torch.bfloat16 or version == 'v1':
        assert not overflow['fast'], overflow


@pytest.mark.parametrize('version', ['v1', 'v2'])
@pytest.mark.parametrize('dtype', [torch.float32, torch.float16])
def test_fast_path_runs_memory_efficient_kernel_not_math(version, dtype):
    # Only the memory-efficient kernel allowed: a fallback to the math
    # kernel (or flash, which takes no bias) would raise. The op counts
    # prove the fused kernel ran at all (not the explicit attention).
    _, fast = reference_and_fast(version)
    fast.train()
    x = torch.randn(2, 3, 150, 203, device='cuda')
    with sdpa_kernel([SDPBackend.EFFICIENT_ATTENTION]), CountOps() as ops, \
            torch.autocast('cuda', dtype=dtype,
                           enabled=dtype != torch.float32):
        outs = fast(x)
        sum(o.float().mean() for o in outs).backward()
    counts = ops.ops
    assert counts['_scaled_dot_product_efficient_attention'] >= 8, counts
    assert counts['_scaled_dot_product_efficient_attention_backward'] >= 8
    assert counts['_scaled_dot_product_attention_math'] == 0


@pytest.mark.parametrize('version,size', [('v1', (97, 131)), ('v2', (97, 131)),
                                          ('v2', (40, 72))])
@pytest.mark.parametrize('train', [False, True])
def test_forward_at_new_size_does_not_synchronise(version, size, train):
    _, fast = reference_and_fast(version)
    fast.train(train)
    warm = torch.randn(2, 3, 64, 64, device='cuda')
    outputs_and_grads(fast, warm, train)  # CUDA context, kernels, handles
    clear_size_caches()
    x = torch.randn(2, 3, *size, device='cuda')
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode('error')
    try:
        outputs_and_grads(fast, x, train)
    finally:
        torch.cuda.set_sync_debug_mode(0)

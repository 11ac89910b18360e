"""The fast path at a new input size moves no data between host and device.

On CUDA a tensor made from Python data (``torch.tensor([...])``) is a copy
from the host that waits for it, and reading a value (``.item()``,
``.tolist()``, ``nonzero``) waits for the device: either would stall every
step of multi-scale training, where each batch has a new size. On the CPU
the same calls show up as aten ops (``lift_fresh`` for host data,
``_local_scalar_dense`` for a value read back), so this test counts them
on the code path CUDA takes (window gather, fused attention per run of
windows, scatter). ``tests/cuda`` checks the same on a GPU with
``torch.cuda.set_sync_debug_mode('error')``.
"""
import pytest
import torch

from swin_mm.models import SwinTransformer, SwinTransformerV2
from ...helpers import CountOps, clear_size_caches

HOST_ROUND_TRIPS = {
    'lift_fresh', 'lift_fresh_copy', '_local_scalar_dense', 'nonzero',
    'unique', '_unique', '_unique2', 'unique_consecutive', 'masked_select'
}


def test_op_counter_sees_host_data_and_values_read_back():
    with CountOps() as counter:
        t = torch.tensor([1, 2, 3])
        t.sum().item()
    assert counter.ops['lift_fresh'] == 1
    assert counter.ops['_local_scalar_dense'] == 1


@pytest.mark.parametrize(
    'version,size',
    [
        ('v1', (97, 131)),
        ('v1', (224, 224)),
        ('v2', (97, 131)),
        ('v2', (40, 72)),  # last stages smaller than the window: it shrinks
    ])
def test_training_step_at_new_size_has_no_host_round_trip(version, size):
    cls = SwinTransformer if version == 'v1' else SwinTransformerV2
    kwargs = dict(window_size=7, drop_path_rate=0.1)
    model = cls(
        arch=dict(embed_dims=32, depths=(2, 2, 2, 2), num_heads=(1, 2, 2, 4)),
        **kwargs)
    # A frozen bias sends the CPU down CUDA's path: fused attention per
    # run of windows (a trainable one needs the explicit attention here).
    for block in model.modules():
        if hasattr(block, 'bias_parameters'):
            for param in block.bias_parameters():
                param.requires_grad_(False)
    model.train()
    x = torch.randn(2, 3, *size)
    clear_size_caches()
    with CountOps() as counter:
        outs = model(x)
        sum(out.mean() for out in outs).backward()
    found = {op: n for op, n in counter.ops.items() if op in HOST_ROUND_TRIPS}
    assert found == {}, found
    assert counter.ops['_scaled_dot_product_flash_attention_for_cpu'] > 0 \
        or counter.ops['scaled_dot_product_attention'] > 0, \
        'the fused attention did not run: not the path CUDA takes'

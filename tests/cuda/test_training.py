"""Mixed-precision training steps of the backbone with a small head on
CUDA: finite losses, finite gradients, parameters that move."""
import pytest
import torch
import torch.nn as nn

from . import REQUIRES_CUDA
from .models import build

pytestmark = REQUIRES_CUDA


class TinyHead(nn.Module):
    """A 1x1 convolution on each of the four maps, scores averaged."""

    def __init__(self, channels):
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv2d(c, 1, 1) for c in channels)

    def forward(self, feats):
        return sum(
            conv(f).mean(dim=(1, 2, 3))
            for conv, f in zip(self.convs, feats))  # B


@pytest.mark.parametrize('version', ['v1', 'v2'])
@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
def test_autocast_training_steps_are_finite(version, dtype):
    backbone = build(version, randomized=False).cuda().train()
    head = TinyHead(backbone.num_features).cuda()
    params = list(backbone.parameters()) + list(head.parameters())
    optimizer = torch.optim.AdamW(params, lr=1e-4)
    # fp16 with loss scaling, as mmengine's AmpOptimWrapper trains (a
    # moderate fixed start: the dynamic default, 2**16, skips the first
    # steps by design); bf16 has fp32's range and needs none.
    scaler = torch.amp.GradScaler(
        'cuda', init_scale=2.**10, enabled=dtype == torch.float16)
    before = [p.detach().clone() for p in backbone.parameters()]
    for step in range(6):
        # Three sizes, each padded at some stage (160: 40, 20, 10, 5).
        x = torch.randn(2, 3, 160 + 32 * (step % 3), 224, device='cuda')
        target = torch.randn(2, device='cuda')
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast('cuda', dtype=dtype):
            loss = nn.functional.mse_loss(head(backbone(x)).float(), target)
        assert torch.isfinite(loss), (step, loss)
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        for name, param in backbone.named_parameters():
            assert param.grad is not None, name
            assert torch.isfinite(param.grad).all(), (step, name)
        scaler.step(optimizer)
        scaler.update()
    moved = sum(not torch.equal(a, b.detach())
                for a, b in zip(before, backbone.parameters()))
    assert moved == len(before)

"""Same weights, same features as MMDetection's Swin on CUDA (fp32,
``always_shift=True``)."""
import pytest
import torch

from benchmarks.mmdet_swin import mmdet_swin_class
from swin_mm.models import SwinTransformer
from ..helpers import randomize
from . import REQUIRES_CUDA

pytestmark = REQUIRES_CUDA


@pytest.mark.parametrize('size', [(224, 224), (150, 203), (800, 1333)])
@pytest.mark.parametrize('train', [False, True])
def test_parity_with_mmdet_swin_on_cuda(size, train):
    theirs = mmdet_swin_class()(drop_path_rate=0.)  # Swin-T
    randomize(theirs)
    ours = SwinTransformer('tiny', drop_path_rate=0., always_shift=True)
    ours.load_state_dict(theirs.state_dict(), strict=True)
    theirs.cuda().train(train)
    ours.cuda().train(train)
    x = torch.randn(1, 3, *size, device='cuda')
    with torch.set_grad_enabled(train):
        diffs = [(a - b).abs().max().item()
                 for a, b in zip(theirs(x), ours(x))]
    assert len(diffs) == 4 and max(diffs) <= 1e-4, diffs

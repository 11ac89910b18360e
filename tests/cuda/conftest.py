"""fp32 on CUDA means fp32 here: TF32 products and convolutions off, so
that 1e-4 comparisons test the code, not the tensor cores' rounding."""
import pytest
import torch


@pytest.fixture(autouse=True)
def _exact_fp32():
    saved = (torch.backends.cuda.matmul.allow_tf32,
             torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    yield
    (torch.backends.cuda.matmul.allow_tf32,
     torch.backends.cudnn.allow_tf32) = saved

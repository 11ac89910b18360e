"""A small Swin with known weights and comparison helpers."""
import torch

from swin_mm.models import SwinTransformer
from ..helpers import randomize  # noqa: F401

SMALL = dict(
    embed_dims=32,
    depths=(2, 2, 2, 2),
    num_heads=(1, 2, 4, 8),
    drop_path_rate=0.)
SIZE = (1, 3, 96, 128)


def make_swin(**kwargs) -> SwinTransformer:
    return SwinTransformer(**{**SMALL, **kwargs})


def features(model: torch.nn.Module, x: torch.Tensor):
    model.eval()
    with torch.no_grad():
        return model(x)


def assert_same_features(a, b, atol=1e-5):
    assert len(a) == len(b)
    for fa, fb in zip(a, b):
        torch.testing.assert_close(fa, fb, rtol=0, atol=atol)

"""A small Swin with known weights and comparison helpers."""
import torch

from swin_mm.models import SwinTransformer
from ..helpers import SMALL, randomize  # noqa: F401

SMALL = dict(SMALL, embed_dims=32)
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

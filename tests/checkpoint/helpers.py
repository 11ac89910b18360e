"""A small Swin with known weights and comparison helpers."""
import torch

from swin_mm.models import SwinTransformer

SMALL = dict(embed_dims=32, depths=(2, 2, 2, 2), num_heads=(1, 2, 4, 8),
             drop_path_rate=0.)
SIZE = (1, 3, 96, 128)


def make_swin(**kwargs) -> SwinTransformer:
    return SwinTransformer(**{**SMALL, **kwargs})


def randomize(model: torch.nn.Module, skip_out_norms: bool = False) -> None:
    with torch.no_grad():
        for name, param in model.named_parameters():
            if skip_out_norms and name.startswith('norm'):
                continue
            if 'norm' in name and name.endswith('weight'):
                param.copy_(1 + 0.2 * torch.randn_like(param))
            else:
                param.copy_(0.05 * torch.randn_like(param))


def features(model: torch.nn.Module, x: torch.Tensor):
    model.eval()
    with torch.no_grad():
        return model(x)


def assert_same_features(a, b, atol=1e-5):
    assert len(a) == len(b)
    for fa, fb in zip(a, b):
        torch.testing.assert_close(fa, fb, rtol=0, atol=atol)

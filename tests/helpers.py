"""Helpers shared by the test packages."""
import importlib
from collections import Counter

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from swin_mm.models.tracing import clear_size_caches  # noqa: F401

#: The small Swin the model tests build (V1 or V2): C = 16, two blocks per
#: stage, no stochastic depth.
SMALL = dict(
    embed_dims=16,
    depths=(2, 2, 2, 2),
    num_heads=(1, 2, 4, 8),
    drop_path_rate=0.)


def randomize(model: torch.nn.Module, skip_out_norms: bool = False) -> None:
    """Weights far from init, so that every parameter affects the output:
    norm weights 1 + 0.2 N(0, 1), everything else 0.05 N(0, 1).

    Args:
        skip_out_norms: Leave a backbone's output norms (``norm0``..) at
            their 1 / 0 init.
    """
    with torch.no_grad():
        for name, param in model.named_parameters():
            if skip_out_norms and name.startswith('norm'):
                continue
            if 'norm' in name and name.endswith('weight'):
                param.copy_(1 + 0.2 * torch.randn_like(param))
            else:
                param.copy_(0.05 * torch.randn_like(param))


class CountOps(TorchDispatchMode):
    """Counts the aten ops run inside it, by name without overload
    (``ops['_scaled_dot_product_efficient_attention']``)."""

    def __init__(self):
        super().__init__()
        self.ops = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops[func._overloadpacket.__name__] += 1
        return func(*args, **(kwargs or {}))


def hide_package(monkeypatch, name: str) -> None:
    """Make ``importlib.import_module(name)`` fail as it does where the
    package is not installed."""
    real = importlib.import_module

    def import_module(module, *args):
        if module == name:
            raise ImportError(f'No module named {name}')
        return real(module, *args)

    monkeypatch.setattr(importlib, 'import_module', import_module)

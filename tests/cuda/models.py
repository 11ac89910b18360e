"""Small V1 / V2 backbones for the CUDA tests, in pairs with equal
weights."""
from typing import Tuple

import torch

from swin_mm.models import SwinTransformer, SwinTransformerV2
from ..helpers import SMALL as _SMALL
from ..helpers import randomize

SMALL = dict(_SMALL, embed_dims=32)
# Stage maps unpadded (224: 56, 28, 14, 7 at window 7) and padded at every
# stage (150x203: 38x51, 19x26, 10x13, 5x7).
SIZES = [(224, 224), (150, 203)]


def build(version: str, randomized: bool = True, **kwargs) -> torch.nn.Module:
    """A small backbone of ``version`` ('v1' or 'v2'): weights far from
    init (every parameter matters in comparisons), or as initialised for
    training (``randomized=False``)."""
    cls = SwinTransformer if version == 'v1' else SwinTransformerV2
    torch.manual_seed(0)
    model = cls(**{**SMALL, **kwargs})
    if randomized:
        randomize(model)
    else:
        model.init_weights()
    return model


def reference_and_fast(version: str,
                       device: str = 'cuda',
                       **kwargs) -> Tuple[torch.nn.Module, torch.nn.Module]:
    """The reference path and the fast path, same weights, on ``device``."""
    ref = build(version, fast_path=False, **kwargs)
    fast = build(version, fast_path=True, **kwargs)
    fast.load_state_dict(ref.state_dict())
    return ref.to(device), fast.to(device)

"""Analytic multiply-add counts of a Swin backbone, walked from its modules.

Counted as the paper counts (its tables come from the official code's
``flops()``): multiply-adds of every linear layer, convolution and attention
matrix product, plus one per element for each LayerNorm. Element-wise work
(softmax, GELU, residual adds) is not counted.

The paper's complexity of one block's attention on an h x w map with C
channels and M x M windows (Sec. 3.2):

    Omega(MSA)   = 4 h w C^2 + 2 (h w)^2 C
    Omega(W-MSA) = 4 h w C^2 + 2 M^2 h w C

(:func:`msa_macs`, :func:`window_msa_macs`; qkv and output projections plus
the two attention products).
"""
import math
from collections import OrderedDict
from typing import Dict, Tuple

import torch.nn as nn

HWShape = Tuple[int, int]


def msa_macs(h: int, w: int, C: int) -> int:
    """Omega(MSA): global multi-head self-attention over h*w tokens."""
    return 4 * h * w * C**2 + 2 * (h * w)**2 * C


def window_msa_macs(h: int, w: int, C: int, window_size: int) -> int:
    """Omega(W-MSA): attention within M x M windows (h, w multiples of M)."""
    return 4 * h * w * C**2 + 2 * window_size**2 * h * w * C


def _ceil_to(size: int, multiple: int) -> int:
    return -(-size // multiple) * multiple


def block_macs(block: nn.Module, hw_shape: HWShape) -> Dict[str, int]:
    """Multiply-adds of one Swin block on an (H, W) map.

    Attention runs on the map padded to window multiples (padding tokens
    are projected and attended like real ones), the MLP on the real tokens.
    """
    H, W = hw_shape
    M = block.window_size
    C, hidden = block.attn.embed_dims, block.mlp.fc1.out_features
    padded = _ceil_to(H, M) * _ceil_to(W, M)  # tokens after padding
    N = M * M
    return OrderedDict(
        norm=2 * H * W * C,
        qkv=padded * C * 3 * C,
        # q k^T and attn v, each N x N x d per head and window.
        attention=2 * (padded // N) * N * N * C,
        proj=padded * C * C,
        mlp=2 * H * W * C * hidden)


def patch_merging_macs(merging: nn.Module,
                       hw_shape: HWShape) -> Tuple[Dict[str, int], HWShape]:
    """Multiply-adds of patch merging and the (H, W) it produces."""
    h, w = math.ceil(hw_shape[0] / 2), math.ceil(hw_shape[1] / 2)
    in_c, out_c = merging.reduction.in_features, merging.reduction.out_features
    norm = h * w * in_c if merging.norm is not None else 0
    return OrderedDict(norm=norm, reduction=h * w * in_c * out_c), (h, w)


#: Which kind of work each counted part is.
KIND = dict(norm='norm', qkv='dense', proj='dense', mlp='dense',
            reduction='dense', embed='dense', attention='attention')


def _walk(model: nn.Module, input_hw: HWShape):
    """(part name, {kind of work: macs}) for every part of the backbone."""
    embed = model.patch_embed
    P = embed.patch_size
    h, w = math.ceil(input_hw[0] / P), math.ceil(input_hw[1] / P)
    C = embed.proj.out_channels
    yield 'patch_embed', OrderedDict(
        embed=h * w * C * embed.proj.in_channels * P * P,
        norm=h * w * C if embed.norm is not None else 0)
    out_norms = 0
    for i, stage in enumerate(model.stages):
        if stage.downsample is not None:
            merging, (h, w) = patch_merging_macs(stage.downsample, (h, w))
            yield f'stage{i + 1}.merging', merging
        blocks: Dict[str, int] = OrderedDict()
        for block in stage.blocks:
            for key, value in block_macs(block, (h, w)).items():
                blocks[key] = blocks.get(key, 0) + value
        yield f'stage{i + 1}.blocks', blocks
        if i in model.out_indices:
            out_norms += h * w * stage.blocks[0].attn.embed_dims
    yield 'out_norms', OrderedDict(norm=out_norms)


def count_macs(model: nn.Module,
               input_hw: HWShape) -> 'OrderedDict[str, int]':
    """Multiply-adds of a swin_mm backbone for one (H, W) image.

    Returns:
        Ordered parts: ``patch_embed``, then per stage ``stage{i}.merging``
        and ``stage{i}.blocks``, then ``out_norms``; sum them for the total.
    """
    return OrderedDict((name, sum(macs.values()))
                       for name, macs in _walk(model, input_hw))


def count_macs_by_kind(model: nn.Module,
                       input_hw: HWShape) -> Dict[str, int]:
    """The same total split by kind of work: ``dense`` (linear layers and
    the patch-embedding conv: matrix products with weights), ``attention``
    (q k^T and attn v) and ``norm``."""
    kinds = {'dense': 0, 'attention': 0, 'norm': 0}
    for _, macs in _walk(model, input_hw):
        for key, value in macs.items():
            kinds[KIND[key]] += value
    return kinds

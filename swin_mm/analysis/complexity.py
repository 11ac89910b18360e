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

from swin_mm.models.layers.windows import HWShape, padded_size


def msa_macs(h: int, w: int, C: int) -> int:
    """Omega(MSA): global multi-head self-attention over h*w tokens."""
    return 4 * h * w * C**2 + 2 * (h * w)**2 * C


def window_msa_macs(h: int, w: int, C: int, window_size: int) -> int:
    """Omega(W-MSA): attention within M x M windows (h, w multiples of M)."""
    return 4 * h * w * C**2 + 2 * window_size**2 * h * w * C


def block_macs(block: nn.Module, hw_shape: HWShape) -> Dict[str, int]:
    """Multiply-adds of one Swin block on an (H, W) map.

    Attention runs on the map padded to multiples of the block's window
    there (padding tokens are projected and attended like real ones), the
    MLP on the real tokens. A V2 block also runs its position-bias MLP once
    over the (2M-1)^2 relative offsets.
    """
    H, W = hw_shape
    M, _ = block.attn.window_and_shift(hw_shape)
    C, hidden = block.attn.w_msa.embed_dims, block.ffn.fc1.out_features
    padded = padded_size(H, M) * padded_size(W, M)  # tokens after padding
    N = M * M
    macs = OrderedDict(
        norm=2 * H * W * C,
        qkv=padded * C * 3 * C,
        # q k^T and attn v, each N x N x d per head and window.
        attention=2 * (padded // N) * N * N * C,
        proj=padded * C * C,
        mlp=2 * H * W * C * hidden)
    cpb = getattr(block.attn.w_msa, 'cpb_mlp', None)
    if cpb is not None:
        macs['position_bias'] = (2 * M - 1)**2 * sum(
            layer.in_features * layer.out_features
            for layer in cpb if isinstance(layer, nn.Linear))
    return macs


def patch_merging_macs(merging: nn.Module,
                       hw_shape: HWShape) -> Tuple[Dict[str, int], HWShape]:
    """Multiply-adds of patch merging and the (H, W) it produces."""
    h, w = math.ceil(hw_shape[0] / 2), math.ceil(hw_shape[1] / 2)
    in_c, out_c = merging.reduction.in_features, merging.reduction.out_features
    # V1 normalizes the 4C concat, V2 the 2C output.
    norm = h * w * merging.norm.normalized_shape[0] \
        if merging.norm is not None else 0
    return OrderedDict(norm=norm, reduction=h * w * in_c * out_c), (h, w)


#: Which kind of work each counted part is.
KIND = dict(
    norm='norm',
    qkv='dense',
    proj='dense',
    mlp='dense',
    reduction='dense',
    embed='dense',
    position_bias='dense',
    attention='attention')


def _walk(model: nn.Module, input_hw: HWShape):
    """(part name, {kind of work: macs}) for every part of the backbone."""
    embed = model.patch_embed
    P = embed.patch_size
    h, w = math.ceil(input_hw[0] / P), math.ceil(input_hw[1] / P)
    C = embed.projection.out_channels
    yield 'patch_embed', OrderedDict(
        embed=h * w * C * embed.projection.in_channels * P * P,
        norm=h * w * C if embed.norm is not None else 0)
    out_norms = 0
    for i, stage in enumerate(model.stages):
        # Stages are numbered as in the paper (1..4); a patch merging counts
        # in the stage it feeds, wherever the module tree holds it.
        if stage.merging == 'before':
            merging, (h, w) = patch_merging_macs(stage.downsample, (h, w))
            yield f'stage{i + 1}.merging', merging
        blocks: Dict[str, int] = OrderedDict()
        for block in stage.blocks:
            for key, value in block_macs(block, (h, w)).items():
                blocks[key] = blocks.get(key, 0) + value
        yield f'stage{i + 1}.blocks', blocks
        if i in model.out_indices:
            out_norms += h * w * stage.blocks[0].attn.w_msa.embed_dims
        if stage.merging == 'after':
            merging, (h, w) = patch_merging_macs(stage.downsample, (h, w))
            yield f'stage{i + 2}.merging', merging
    yield 'out_norms', OrderedDict(norm=out_norms)


def count_macs(model: nn.Module, input_hw: HWShape) -> 'OrderedDict[str, int]':
    """Multiply-adds of a swin_mm backbone for one (H, W) image.

    Returns:
        Ordered parts: ``patch_embed``, then per stage ``stage{i}.merging``
        and ``stage{i}.blocks``, then ``out_norms``; sum them for the total.
    """
    return OrderedDict(
        (name, sum(macs.values())) for name, macs in _walk(model, input_hw))


def count_macs_by_kind(model: nn.Module, input_hw: HWShape) -> Dict[str, int]:
    """The same total split by kind of work: ``dense`` (linear layers and
    the patch-embedding conv: matrix products with weights), ``attention``
    (q k^T and attn v) and ``norm``."""
    kinds = {'dense': 0, 'attention': 0, 'norm': 0}
    for _, macs in _walk(model, input_hw):
        for key, value in macs.items():
            kinds[KIND[key]] += value
    return kinds


#: The paper's Table 1 (ImageNet-1K): params (M, with the 1000-class head)
#: and FLOPs (G multiply-adds) per (arch, image size, window size).
PAPER_TABLE = (
    ('tiny', 224, 7, 28, 4.5),
    ('small', 224, 7, 50, 8.7),
    ('base', 224, 7, 88, 15.4),
    ('large', 224, 7, 197, 34.5),
    ('base', 384, 12, 88, 47.1),
    ('large', 384, 12, 197, 103.9),
)

#: The V2 paper's ImageNet-1K models at 256x256 (params M, FLOPs G).
PAPER_TABLE_V2 = (
    ('tiny', 256, 8, 28, 5.9),
    ('tiny', 256, 16, 28, 6.6),
    ('small', 256, 8, 50, 11.5),
    ('base', 256, 8, 88, 20.3),
)


def paper_params(model: nn.Module, num_classes: int = 1000) -> int:
    """Parameters as the paper counts them: the backbone with one final
    norm (the last output's) and a ``num_classes`` linear head, without the
    other stages' output norms and the index/mask buffers."""
    last = max(model.out_indices)
    total = 0
    for name, param in model.named_parameters():
        is_out_norm = name.startswith('norm') and name.split('.')[0][4:] \
            .isdigit()
        if is_out_norm and name.split('.')[0] != f'norm{last}':
            continue
        total += param.numel()
    channels = model.num_features[-1]
    if last != len(model.num_features) - 1:  # the final norm is not counted
        total += 2 * channels
    return total + channels * num_classes + num_classes

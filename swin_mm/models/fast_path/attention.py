"""Window attention on the fast path: what a window attention module
(``WindowMSA``, ``WindowCosineMSA``) computes, in fewer passes.

The module gives the parts (qkv projection, heads, q/k scaling, relative
position bias, output projection); these functions put them together:

- :func:`explicit_attention`: one product, then scale, bias and shift mask
  in one pass (``torch.add(bias + mask, q k^T, alpha=scale)``): training on
  the CPU, where no fused kernel gives the bias its gradient.
- :func:`attention_by_runs`: PyTorch's fused kernel
  (``F.scaled_dot_product_attention``: flash on the CPU, memory-efficient
  on CUDA), one call per run of windows sharing a bias + mask, or one call
  with every window's mask gathered when the runs are many and short.
"""
import math
from typing import Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..tracing import tracing
from .settings import config

Run = Tuple[int, int, int]  # first window, windows, mask group


def explicit_attention(attn: nn.Module,
                       qkv: torch.Tensor,
                       mask: Optional[torch.Tensor] = None) -> torch.Tensor:
    """softmax(q' k'^T * scale + B + mask) v of projected windows
    (B*nW, N, 3C), before the output projection: (B*nW, N, C).

    Args:
        attn: The window attention module.
        mask: (nW, N, N) shift mask of each window of an image, or None.
    """
    Bw, N, _ = qkv.shape
    heads = attn.num_heads
    q, k, v = attn.split_heads(qkv, stacked=tracing())  # each Bw, heads, N, d
    q, k, scale = attn.scaled_qk(q, k)
    logits = q @ k.transpose(-2, -1)  # Bw, heads, N, N
    bias = attn.relative_position_bias(math.isqrt(N))  # heads, N, N
    if mask is None:
        logits = torch.add(bias, logits, alpha=scale)
    else:
        nW = mask.shape[0]
        logits = torch.add(
            bias + mask[:, None],
            logits.view(Bw // nW, nW, heads, N, N),
            alpha=scale)  # B, nW, heads, N, N
        logits = logits.view(Bw, heads, N, N)
    weights = attn.attn_drop(logits.softmax(dim=-1))
    out = (weights @ v).transpose(1, 2)  # Bw, N, heads, d
    return out.reshape(Bw, N, v.shape[1] * v.shape[3])  # Bw, N, C


def bias_with_masks(attn: nn.Module,
                    group_masks: torch.Tensor) -> torch.Tensor:
    """Relative position bias plus each of G shift masks (G, N, N):
    (G, heads, N, N)."""
    window_size = math.isqrt(group_masks.shape[-1])
    return (attn.relative_position_bias(window_size) + group_masks[:, None]
            )  # G, heads, N, N


def attention_by_runs(attn: nn.Module, qkv: torch.Tensor,
                      bias_masks: torch.Tensor, runs: Sequence[Run],
                      window_groups: torch.Tensor) -> torch.Tensor:
    """The attention of projected windows (B*nW, N, 3C) through PyTorch's
    fused kernel, before the output projection: (B*nW, N, C).

    Args:
        attn: The window attention module.
        bias_masks: (G, heads, N, N) from :func:`bias_with_masks`.
        runs: (first window, windows, group) covering all windows in order
            (``WindowPlan.runs``).
        window_groups: (B*nW,) the group of each window
            (``WindowPlan.window_groups``): with many short runs, every
            window's mask is gathered by it on the device (no host data).
    """
    Bw, N, _ = qkv.shape
    q, k, v = attn.split_heads(qkv)  # each Bw, heads, N, d
    q, k, scale = attn.scaled_qk(q, k)
    dropout = attn.attn_drop.p if attn.training else 0.
    if len(runs) > config.max_mask_runs:
        masks = bias_masks.index_select(0, window_groups)  # Bw, heads, N, N
        out = F.scaled_dot_product_attention(
            q,
            k,
            v,
            attn_mask=aligned_attn_mask(masks.to(q.dtype)),
            dropout_p=dropout,
            scale=scale).transpose(1, 2)  # Bw, N, heads, d
    else:
        masks = aligned_attn_mask(bias_masks.to(q.dtype))
        out = torch.cat([
            F.scaled_dot_product_attention(
                q[first:first + count],
                k[first:first + count],
                v[first:first + count],
                attn_mask=masks[group:group + 1],
                dropout_p=dropout,
                scale=scale).transpose(1, 2)  # count, N, heads, d
            for first, count, group in runs
        ])  # Bw, N, heads, d
    return out.reshape(Bw, N, out.shape[2] * out.shape[3])  # Bw, N, C


def needs_explicit_attention(attn: nn.Module, device: torch.device) -> bool:
    """Whether the bias needs a gradient on a device whose fused kernel
    cannot give one (the CPU); then :func:`explicit_attention` runs."""
    return (torch.is_grad_enabled() and device.type != 'cuda'
            and any(p.requires_grad for p in attn.bias_parameters()))


def aligned_attn_mask(mask: torch.Tensor) -> torch.Tensor:
    """On CUDA, give the mask a row stride that is a multiple of 8.

    The memory-efficient SDPA kernel (the one that takes a float bias and
    its gradient) needs aligned bias rows; N = 49 is not, so the mask is
    stored padded and sliced back to N columns. No-op elsewhere.
    """
    return pad_rows(mask, 8) if mask.is_cuda else mask


def pad_rows(mask: torch.Tensor, multiple: int) -> torch.Tensor:
    """The same values, rows stored with a stride that is a multiple of
    ``multiple`` (the input itself when it already is)."""
    N = mask.shape[-1]
    pad = -N % multiple
    if pad == 0:
        return mask
    return F.pad(mask, (0, pad))[..., :N]  # ..., N, N; row stride N + pad

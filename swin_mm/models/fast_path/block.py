"""A Swin block on the fast path: the seam the block enters through.

:func:`applies` says whether a block may take the fast path;
:func:`forward_block` computes what the block's reference ``forward``
computes (the table in ``swin_mm.models.fast_path`` says how). The block
lends its parts: ``attn`` (its ``window_and_shift`` and window attention
``w_msa``), ``ffn``, ``drop_path`` and
where its norms sit (``norm_before_attention``, ``norm_after_attention``,
``norm_before_mlp``, ``norm_after_mlp``: pre-norm in V1, res-post-norm in
V2).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..layers.windows import HWShape
from ..tracing import tracing
from .attention import (attention_by_runs, bias_with_masks, explicit_attention,
                        needs_explicit_attention)
from .linear import linear_gelu, post_op_applies
from .plan import WindowPlan, window_plan
from .settings import config


def global_hooks() -> bool:
    """Whether forward or backward hooks are registered on every module."""
    hooks = nn.modules.module
    return bool(hooks._global_forward_hooks or hooks._global_forward_pre_hooks
                or hooks._global_backward_hooks
                or hooks._global_backward_pre_hooks)


def has_hooks(module: nn.Module) -> bool:
    """Whether forward or backward hooks are registered on ``module``."""
    return bool(module._forward_hooks or module._forward_pre_hooks
                or module._backward_hooks or module._backward_pre_hooks)


def applies(block: nn.Module) -> bool:
    """Whether ``block`` takes the fast path: its ``fast_path`` switch on
    (the backbone's ``fast_path``), and no hook on a module inside it
    (attention, its projections, norms, MLP). The fast path calls those
    modules' parts, or calls them on chunks of tokens, so a hook would miss
    calls or see other tensors; the reference path calls each once on the
    whole input."""
    return block.fast_path and not global_hooks() and not any(
        has_hooks(module) for module in block.modules() if module is not block)


def forward_block(block: nn.Module, x: torch.Tensor,
                  hw_shape: HWShape) -> torch.Tensor:
    """The block's output for (B, H*W, C) tokens of an (H, W) map."""
    if x.device.type == 'cpu' and not block.training \
            and not torch.is_grad_enabled() and not tracing():
        return forward_in_chunks(block, x, hw_shape)
    x = attention_residual(block, x, hw_shape)
    branch = block.norm_after_mlp(block.ffn(block.norm_before_mlp(x)))
    return add_residual(x, block.drop_path(branch))


def plan_of(block: nn.Module, batch: int, hw_shape: HWShape,
            device: torch.device) -> WindowPlan:
    """Gather / scatter indices and mask groups of the block's windows."""
    M, shift = block.attn.window_and_shift(hw_shape, as_tensor=tracing())
    return window_plan(batch, hw_shape, M, shift, device,
                       block.attn.shift_size)


def gather_source(block: nn.Module, x: torch.Tensor,
                  plan: WindowPlan) -> torch.Tensor:
    """The rows that ``plan.gather_index`` reads: the attention input
    flattened to (B*L, C), with a zero row 0 prepended when padding slots
    exist."""
    B, L, C = x.shape
    rows = block.norm_before_attention(x).reshape(B * L, C)  # B*L, C
    if plan.zero_row:
        rows = F.pad(rows, (0, 0, 1, 0))  # 1 + B*L, C; row 0 pads
    return rows


def gather_windows(block: nn.Module, x: torch.Tensor,
                   plan: WindowPlan) -> torch.Tensor:
    """The attention input of every window slot (B*nW*N, C): pad + shift +
    partition as one row gather from :func:`gather_source`'s rows.

    Traced (every size, so padding slots may exist), no zero row is
    prepended: a padding slot reads row 0 and is multiplied by 0. In an
    exported graph that is a gather and an element-wise product, where
    prepending a row copies the whole map (and OpenVINO runs Pad by a slow
    generic kernel)."""
    if not (plan.zero_row and tracing()):
        rows = gather_source(block, x, plan)  # (1 +) B*L, C
        return rows.index_select(0, plan.gather_index)  # B*nW*N, C
    B, L, C = x.shape
    rows = block.norm_before_attention(x).reshape(B * L, C)  # B*L, C
    inside = plan.gather_index > 0  # B*nW*N: False on padding slots
    index = (plan.gather_index - 1).clamp_min(0)  # B*nW*N
    return rows.index_select(0, index) * inside[:, None].to(rows.dtype)


def attention_residual(block: nn.Module, x: torch.Tensor,
                       hw_shape: HWShape) -> torch.Tensor:
    """x plus the (S)W-MSA branch, with pad + shift + partition done as one
    row gather, attention through the fused kernel where it applies, and
    reverse + shift back + crop as one more gather, the residual added into
    its result.

    The projections are row-wise, so they commute with the gathers: the
    output projection (and V2's norm) runs after the scatter, on the map's
    tokens only, never on padding slots; on well-padded maps the qkv
    projection runs before the gather too (see
    :func:`project_before_gather`), padding slots reading the projection of
    the zero row, qkv(0), exactly as the reference computes them.
    """
    B, L, C = x.shape
    attn = block.attn.w_msa
    plan = plan_of(block, B, hw_shape, x.device)
    N = plan.window_size**2
    if project_before_gather(plan, B * L, C):
        rows = gather_source(block, x, plan)  # (1 +) B*L, C
        qkv = attn.qkv_projection(rows).index_select(
            0, plan.gather_index)  # B*nW*N, 3C
    else:
        windows = gather_windows(block, x, plan)  # B*nW*N, C
        qkv = attn.qkv_projection(windows)  # B*nW*N, 3C
    slots = plan.gather_index.shape[0]
    qkv = qkv.view(slots // N, N, 3 * C)  # B*nW, N, 3C
    if plan.runs is None or needs_explicit_attention(attn, x.device):
        windows = explicit_attention(attn, qkv, plan.window_masks)
    else:
        windows = attention_by_runs(attn, qkv,
                                    bias_with_masks(attn, plan.group_masks),
                                    plan.runs,
                                    plan.window_groups)  # B*nW, N, C
    tokens = windows.view(slots, C).index_select(0,
                                                 plan.scatter_index)  # B*L, C
    branch = block.norm_after_attention(attn.output_projection(tokens))
    return add_residual(x, block.drop_path(branch.view(B, L, C)))


def forward_in_chunks(block: nn.Module, x: torch.Tensor,
                      hw_shape: HWShape) -> torch.Tensor:
    """CPU inference: the same block, a few thousand tokens at a time.

    Each chunk's q, k, v and MLP hidden activations fit in cache and their
    memory is reused, where whole-map intermediates of tens of MiB would be
    mapped and paged in afresh on every call. Attention output is added
    straight into the residual stream at each token's row, so window
    reverse, shift back, crop and the residual add are one ``index_add_``.
    Eval mode without autograd only (no drop path, no dropout, nothing
    saved for backward).
    """
    B, L, C = x.shape
    attn = block.attn.w_msa
    plan = plan_of(block, B, hw_shape, x.device)
    N = plan.window_size**2
    rows = gather_source(block, x, plan)  # (1 +) B*L, C
    # Row 0 of the output collects (and drops) what padding slots get.
    out = F.pad(x.reshape(B * L, C), (0, 0, 1, 0))  # 1 + B*L, C
    out_index = plan.gather_index + (0 if plan.zero_row else 1)
    bias_masks = bias_with_masks(attn, plan.group_masks)

    tokens_per_chunk = chunk_tokens(block)
    chunk = max(1, tokens_per_chunk // N)  # windows per chunk
    num_windows = plan.gather_index.numel() // N
    for start in range(0, num_windows, chunk):
        stop = min(start + chunk, num_windows)
        slots = slice(start * N, stop * N)
        windows = rows.index_select(0, plan.gather_index[slots])
        qkv = attn.qkv_projection(windows.view(-1, N, C))  # n, N, 3C
        windows = attention_by_runs(attn, qkv, bias_masks,
                                    plan.runs_within(start, stop),
                                    plan.window_groups[start:stop])
        windows = block.norm_after_attention(attn.output_projection(windows))
        out.index_add_(0, out_index[slots], windows.view(-1, C))

    x = out[1:]  # B*L, C
    for part in x.split(tokens_per_chunk):
        part.add_(
            block.norm_after_mlp(mlp(block.ffn, block.norm_before_mlp(part))))
    return x.view(B, L, C)


def mlp(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The block's MLP; where oneDNN runs fc1 without autograd, its GELU
    runs inside fc1's product as a post-op (one pass over the hidden layer
    fewer)."""
    fc1 = module.fc1
    if not (isinstance(module.act, nn.GELU)
            and post_op_applies(x, fc1.weight, fc1.bias)):
        return module(x)
    hidden = linear_gelu(x, fc1.weight, fc1.bias, module.act.approximate)
    return module.drop(module.fc2(module.drop(hidden)))


def chunk_tokens(block: nn.Module) -> int:
    """Tokens per chunk in :func:`forward_in_chunks`: the widest
    intermediate (the MLP hidden layer) stays near ``chunk_bytes``."""
    hidden = block.ffn.fc1.out_features
    return max(block.attn.window_size**2, config.chunk_bytes // (4 * hidden))


def add_residual(x: torch.Tensor, branch: torch.Tensor) -> torch.Tensor:
    """x + branch, written into ``branch``: a fresh tensor that autograd does
    not keep (a layer's output), so the sum needs no new memory. Falls back
    to a new tensor when the dtypes differ (autocast), keeping x's
    precision."""
    if branch.dtype != x.dtype:
        return x + branch
    return branch.add_(x)


def project_before_gather(plan: WindowPlan, tokens: int,
                          channels: int) -> bool:
    """Whether to run the qkv projection on the map's rows before the
    window gather rather than on the gathered windows.

    Projecting first skips the padding slots' share of the projection
    (3 C^2 multiply-adds each) but gathers 3C-wide rows instead of C-wide
    ones (and scatters their gradients back in training): per slot the
    saving grows as C^2, the extra copying as C. So project first when
    padding slots make up more than ``project_first_pad_channels`` / C of
    the windows (16 / C by default; at C = 48: a third; at C = 384: 4 %), a
    rough balance of the two costs on a CPU, not a tuned value. The
    ``project_before_gather`` setting forces either choice.
    """
    if config.project_before_gather is not None:
        return config.project_before_gather
    if plan.runs is None:  # traced: one choice for every size
        return False
    slots = plan.gather_index.numel()
    return (slots - tokens) * channels > \
        config.project_first_pad_channels * slots

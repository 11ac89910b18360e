"""Swin Transformer (V1) backbone for detection and segmentation.

Implements "Swin Transformer: Hierarchical Vision Transformer using Shifted
Windows" (Liu et al., ICCV 2021, https://arxiv.org/abs/2103.14030):
patch partition + linear embedding, four stages of Swin blocks alternating
W-MSA and SW-MSA (cyclic shift + 9-region mask), relative position bias, and
patch merging between stages. Emits NCHW maps at strides 4, 8, 16, 32 with
C, 2C, 4C, 8C channels, each through its own LayerNorm, as MMDetection's and
MMSegmentation's necks and heads expect.

Layout (bottom-up): :func:`window_attention` (the attention formula, shared
by V1 and V2) -> ``WindowAttention`` (the parts a version defines) ->
``WindowMSA`` -> ``ShiftWindowMSA`` (W-MSA / SW-MSA over a map) -> ``Mlp``
-> ``SwinBlock`` -> ``SwinStage`` -> ``SwinTransformer``. Module and
parameter names are OpenMMLab's (``attn.w_msa``, ``ffn.layers``, patch
merging at the end of stages 0..n-2), so checkpoints, configs' name-keyed
rules and tools see the tree they know; the paper's names live in the
classes, methods and docstrings. Window helpers live in
``swin_mm.models.layers.windows``, patch layers in ``...layers.patch``; V2
builds on these in ``swin_transformer_v2``.

This file holds the paper's computation, step by step (the reference path).
A block hands its computation to ``swin_mm.models.fast_path`` in one place,
:meth:`SwinBlock.forward`: the same function in fewer passes (that
package's docstring tables which path runs when). Tests hold them equal.
"""
import math
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.utils.checkpoint as cp
from mmcv.cnn import build_activation_layer, build_norm_layer
from mmcv.cnn.bricks import DropPath
from mmengine.model import BaseModule, ModuleList
from mmengine.model.weight_init import trunc_normal_
from torch.nn.modules.batchnorm import _BatchNorm

from swin_mm.checkpoint import (convert_backbone_keys, load_pretrained,
                                pretrained_kwargs)
from swin_mm.registry import MODELS
from .. import fast_path
from ..fast_path import Linear
from ..layers.patch import PatchEmbed, PatchMerging
from ..layers.windows import (HWShape, cyclic_shift,
                              gather_relative_position_bias, pad_to_window,
                              padded_size, relative_position_index,
                              shift_window_mask, window_partition,
                              window_reverse, window_shift)
from ..tracing import traced_form
from .arguments import (ARCH_ZOO, check_frozen_stages, check_out_indices,
                        check_strides, check_window_size, is_pretrained,
                        legacy_arguments, pretrain_grid, resolve_arch)


def window_attention(q: torch.Tensor,
                     k: torch.Tensor,
                     v: torch.Tensor,
                     bias: torch.Tensor,
                     mask: Optional[torch.Tensor] = None,
                     scale: float = 1.0,
                     attn_drop: Optional[nn.Module] = None) -> torch.Tensor:
    """softmax(q k^T * scale + B + mask) v within each window.

    Args:
        q, k, v: (B*nW, heads, N, d), the nW windows of each image
            consecutive, N = M*M tokens each.
        bias: (heads, N, N) relative position bias B.
        mask: (nW, N, N) additive SW-MSA mask of each window of an image, or
            None for W-MSA.
        scale: Multiplies q k^T.
        attn_drop: Dropout on the attention weights.

    Returns:
        (B*nW, heads, N, d).
    """
    logits = (q @ k.transpose(-2, -1)) * scale + bias  # B*nW, heads, N, N
    if mask is not None:
        Bw, heads, N, _ = logits.shape
        nW = mask.shape[0]
        logits = logits.view(Bw // nW, nW, heads, N, N) + mask[:, None]
        logits = logits.view(Bw, heads, N, N)
    weights = logits.softmax(dim=-1)
    if attn_drop is not None:
        weights = attn_drop(weights)
    return weights @ v


class WindowAttention(BaseModule):
    """Multi-head self-attention inside M x M windows, plus a relative
    position bias B and, for SW-MSA, the shift mask (:func:`window_attention`).

    Both Swin versions share this; a version defines its parameters (in
    the order of its OpenMMLab counterpart, so that state dicts match key
    for key), the projection (:meth:`qkv_projection`), how q and k are
    scaled (:meth:`scaled_qk`) and B (:meth:`relative_position_bias`). Every
    version has ``qkv`` and ``proj`` linear layers and a persistent
    ``relative_position_index`` buffer (M*M, M*M), rebuilt from M rather
    than read from checkpoints.

    Args:
        embed_dims: Channels C.
        num_heads: Attention heads; C must be divisible by it.
        window_size: M.
        attn_drop_rate: Dropout on attention weights.
        proj_drop_rate: Dropout after the output projection.
    """

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 window_size: int,
                 attn_drop_rate: float = 0.,
                 proj_drop_rate: float = 0.,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.embed_dims = embed_dims
        self.num_heads = num_heads
        self.window_size = window_size
        self.attn_drop = nn.Dropout(attn_drop_rate)
        self.proj_drop = nn.Dropout(proj_drop_rate)

    def init_weights(self) -> None:
        """Initialise the version's own parameters (the backbone
        initialises linear layers and norms)."""

    def qkv_projection(self, windows: torch.Tensor) -> torch.Tensor:
        """(..., C) -> (..., 3C): q, k, v side by side, row by row."""
        raise NotImplementedError

    def scaled_qk(self, q: torch.Tensor,
                  k: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, float]:
        """(q', k', scale) whose product q' k'^T * scale gives the logits."""
        raise NotImplementedError

    def relative_position_bias(self,
                               window_size: Optional[int] = None
                               ) -> torch.Tensor:
        """The bias B of every token pair of a window (default: M):
        (num_heads, M*M, M*M)."""
        raise NotImplementedError

    def bias_parameters(self) -> List[nn.Parameter]:
        """The parameters B is computed from."""
        raise NotImplementedError

    def split_heads(
        self,
        qkv: torch.Tensor,
        stacked: bool = False
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Projected (B*nW, N, 3C) windows to q, k, v of (B*nW, heads, N, d).

        By default split along channels, not stacked and permuted: in
        backward the three gradients are then concatenated straight into
        the layout the projection needs, with no extra copy. ``stacked``
        permutes all three at once and takes views of the result: one
        transpose and no split, the form exported graphs run fastest
        (OpenVINO runs a split by a slow generic kernel).
        """
        Bw, N, C3 = qkv.shape
        C = C3 // 3
        heads = self.num_heads
        if stacked:
            qkv = qkv.view(Bw, N, 3, heads, C // heads)  # Bw, N, 3, heads, d
            qkv = qkv.permute(2, 0, 3, 1, 4)  # 3, Bw, heads, N, d
            return qkv[0], qkv[1], qkv[2]
        return tuple(
            part.view(Bw, N, heads, C // heads).transpose(1, 2)
            for part in qkv.split(C, dim=-1))  # each Bw, heads, N, d

    def output_projection(self, x: torch.Tensor) -> torch.Tensor:
        """The projection after attention, row by row: (..., C) -> (..., C).
        """
        return self.proj_drop(self.proj(x))

    def forward(self,
                windows: torch.Tensor,
                mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Attend within each window, from the windows' tokens to the output
        projection.

        Args:
            windows: (B*nW, N, C) tokens, N = M*M, the nW windows of each
                image consecutive.
            mask: (nW, N, N) additive SW-MSA mask of each window of an
                image, or None for W-MSA.

        Returns:
            (B*nW, N, C).
        """
        Bw, N, C = windows.shape
        q, k, v = self.split_heads(self.qkv_projection(windows))
        q, k, scale = self.scaled_qk(q, k)
        bias = self.relative_position_bias(math.isqrt(N))  # heads, N, N
        x = window_attention(q, k, v, bias, mask, scale, self.attn_drop)
        x = x.transpose(1, 2).reshape(Bw, N, C)  # Bw, N, heads*d
        return self.output_projection(x)


class WindowMSA(WindowAttention):
    """Swin V1 window attention: softmax(q k^T / sqrt(d) + B + mask) v,
    B gathered from a learned table of (2M-1)^2 relative offsets per head.

    W-MSA and SW-MSA share this module; SW-MSA passes the shift mask.

    Args:
        embed_dims: Channels C.
        num_heads: Attention heads; C must be divisible by it.
        window_size: M.
        qkv_bias: Learnable bias on q, k, v.
        qk_scale: Overrides the 1/sqrt(head_dims) scale.
        attn_drop_rate: Dropout on attention weights.
        proj_drop_rate: Dropout after the output projection.
    """

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 window_size: int,
                 qkv_bias: bool = True,
                 qk_scale: Optional[float] = None,
                 attn_drop_rate: float = 0.,
                 proj_drop_rate: float = 0.,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(embed_dims, num_heads, window_size, attn_drop_rate,
                         proj_drop_rate, init_cfg)
        self.scale = qk_scale or (embed_dims // num_heads)**-0.5
        # (2M-1)^2 relative offsets, one bias per head.
        self.relative_position_bias_table = nn.Parameter(
            torch.zeros((2 * window_size - 1)**2, num_heads))
        self.register_buffer('relative_position_index',
                             relative_position_index(window_size))  # N, N
        self.qkv = Linear(embed_dims, embed_dims * 3, bias=qkv_bias)
        self.proj = Linear(embed_dims, embed_dims)

    def init_weights(self) -> None:
        trunc_normal_(self.relative_position_bias_table, std=.02)

    def qkv_projection(self, windows: torch.Tensor) -> torch.Tensor:
        return self.qkv(windows)  # ..., 3C

    def scaled_qk(self, q: torch.Tensor,
                  k: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, float]:
        return q, k, self.scale

    def relative_position_bias(self,
                               window_size: Optional[int] = None
                               ) -> torch.Tensor:
        if window_size not in (None, self.window_size):
            raise ValueError(f'the V1 bias table is for {self.window_size}x'
                             f'{self.window_size} windows, not {window_size}')
        return gather_relative_position_bias(
            self.relative_position_bias_table,
            self.relative_position_index.view(-1))  # heads, N, N

    def bias_parameters(self) -> List[nn.Parameter]:
        return [self.relative_position_bias_table]


class ShiftWindowMSA(BaseModule):
    """W-MSA or SW-MSA over a whole map: the window attention ``w_msa``
    applied to the map padded to window multiples, cyclically shifted by
    (-s, -s) for SW-MSA and partitioned into windows; then windows reversed,
    shifted back and cropped (the reference steps, :meth:`forward`).

    Args:
        w_msa: The window attention (:class:`WindowMSA` or V2's).
        shift: SW-MSA (shift by M // 2) if True, else W-MSA.
        always_shift: Shift even along dimensions that fit in one window
            (MMDetection's behaviour); by default such dimensions are not
            shifted (the official classifier's rule).
        shrink_window: On a map no larger than the window (min(H, W) <= M),
            shrink the window to min(H, W) and do not shift (the official V2
            rule), unless ``always_shift``.
    """

    def __init__(self,
                 w_msa: WindowAttention,
                 shift: bool = False,
                 always_shift: bool = False,
                 shrink_window: bool = False,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.window_size = w_msa.window_size
        self.shift_size = self.window_size // 2 if shift else 0
        self.always_shift = always_shift
        self.shrink_window = shrink_window and not always_shift
        self.w_msa = w_msa

    def window_and_shift(
            self,
            hw_shape: HWShape,
            as_tensor: bool = False) -> Tuple[int, Tuple[int, int]]:
        """The window size and (row, column) shift used on an (H, W) map
        (the shift as 0-d tensors with ``as_tensor``, see
        :func:`window_shift`)."""
        M = self.window_size
        if self.shrink_window and min(hw_shape) <= M:
            return min(hw_shape), (0, 0)
        if not self.shift_size:
            return M, (0, 0)
        padded_hw = tuple(padded_size(size, M) for size in hw_shape)
        return M, window_shift(padded_hw, M, self.shift_size,
                               self.always_shift, as_tensor)

    def forward(self, x: torch.Tensor, hw_shape: HWShape) -> torch.Tensor:
        """W-MSA or SW-MSA on a (B, H*W, C) map of any size, step by step.

        Pad to window multiples, cyclic shift by (-s, -s), partition, attend
        (with the region mask if shifted), reverse, shift back, crop.
        """
        B, L, C = x.shape
        H, W = hw_shape
        M, shift = self.window_and_shift(hw_shape)
        x = pad_to_window(x.view(B, H, W, C), M)  # B, Hp, Wp, C
        Hp, Wp = x.shape[1], x.shape[2]

        mask = None
        if shift != (0, 0):
            mask = shift_window_mask((Hp, Wp), M, shift, x.device)
            x = cyclic_shift(x, (-shift[0], -shift[1]))

        windows = window_partition(x, M)  # B*nW, M*M, C
        windows = self.w_msa(windows, mask)  # B*nW, M*M, C
        x = window_reverse(windows, M, Hp, Wp)  # B, Hp, Wp, C
        x = cyclic_shift(x, shift)
        return x[:, :H, :W].reshape(B, H * W, C)  # B, L, C


class Mlp(BaseModule):
    """The block's MLP: Linear C -> ratio*C, activation, Linear back.

    Held as OpenMMLab's ``FFN`` holds it (``layers.0.0`` and ``layers.1``
    are the two linear layers), so parameter names match; ``fc1``, ``act``,
    ``drop`` and ``fc2`` name the parts.
    """

    def __init__(self,
                 embed_dims: int,
                 hidden_dims: int,
                 act_cfg: dict = dict(type='GELU'),
                 drop_rate: float = 0.,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.layers = nn.Sequential(
            nn.Sequential(
                Linear(embed_dims, hidden_dims),
                build_activation_layer(act_cfg), nn.Dropout(drop_rate)),
            Linear(hidden_dims, embed_dims), nn.Dropout(drop_rate))

    @property
    def fc1(self) -> nn.Linear:
        return self.layers[0][0]

    @property
    def act(self) -> nn.Module:
        return self.layers[0][1]

    @property
    def drop(self) -> nn.Dropout:
        return self.layers[0][2]

    @property
    def fc2(self) -> nn.Linear:
        return self.layers[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class SwinBlock(BaseModule):
    """One Swin Transformer block, pre-norm residual (V1):

        x = x + DropPath((S)W-MSA(LN(x)));  x = x + DropPath(MLP(LN(x)))

    Parts: ``norm1``, ``attn`` (:class:`ShiftWindowMSA`), ``norm2``, ``ffn``
    (:class:`Mlp`), registered in the order of the OpenMMLab block of the
    same version. Where the norms sit is said by four methods
    (:meth:`norm_before_attention` and the like), which V2's res-post-norm
    block overrides.

    Args:
        embed_dims: Channels C.
        num_heads: Attention heads.
        window_size: M.
        shift: SW-MSA (cyclic shift by M // 2) if True, else W-MSA.
        always_shift: See :class:`ShiftWindowMSA`.
        mlp_ratio: MLP hidden channels / C.
        drop_path_rate: Stochastic depth probability of this block.
        attn_kwargs: Further arguments of :attr:`attention_cls` (V1:
            ``qkv_bias``, ``qk_scale``).
    """
    attention_cls = WindowMSA
    #: Res-post-norm (V2): norms after the branches, registered after them.
    post_norm = False

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 window_size: int = 7,
                 shift: bool = False,
                 always_shift: bool = False,
                 mlp_ratio: float = 4.,
                 drop_rate: float = 0.,
                 attn_drop_rate: float = 0.,
                 drop_path_rate: float = 0.,
                 act_cfg: dict = dict(type='GELU'),
                 norm_cfg: dict = dict(type='LN'),
                 init_cfg: Optional[dict] = None,
                 **attn_kwargs) -> None:
        super().__init__(init_cfg=init_cfg)
        #: Hand the computation to ``swin_mm.models.fast_path`` (where
        #: :func:`~swin_mm.models.fast_path.applies`); False runs the
        #: reference steps. Set by the backbone's ``set_fast_path``.
        self.fast_path = True
        norm1 = build_norm_layer(norm_cfg, embed_dims)[1]
        attn = ShiftWindowMSA(
            self.attention_cls(
                embed_dims,
                num_heads,
                window_size,
                attn_drop_rate=attn_drop_rate,
                proj_drop_rate=drop_rate,
                **attn_kwargs),
            shift=shift,
            always_shift=always_shift,
            shrink_window=self.post_norm)
        norm2 = build_norm_layer(norm_cfg, embed_dims)[1]
        ffn = Mlp(
            embed_dims,
            int(embed_dims * mlp_ratio),
            act_cfg=act_cfg,
            drop_rate=drop_rate)
        parts = (('attn', attn), ('norm1', norm1), ('ffn', ffn),
                 ('norm2', norm2)) if self.post_norm else (('norm1', norm1),
                                                           ('attn', attn),
                                                           ('norm2', norm2),
                                                           ('ffn', ffn))
        for name, module in parts:
            self.add_module(name, module)
        self.drop_path = (
            DropPath(drop_path_rate) if drop_path_rate > 0 else nn.Identity())

    # Where the norms sit: pre-norm, LN before each branch.
    def norm_before_attention(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm1(x)

    def norm_after_attention(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def norm_before_mlp(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm2(x)

    def norm_after_mlp(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def forward(self, x: torch.Tensor, hw_shape: HWShape) -> torch.Tensor:
        if fast_path.applies(self):
            return fast_path.forward_block(self, x, hw_shape)
        attention = self.attn(self.norm_before_attention(x), hw_shape)
        x = x + self.drop_path(self.norm_after_attention(attention))
        mlp = self.ffn(self.norm_before_mlp(x))
        return x + self.drop_path(self.norm_after_mlp(mlp))


class SwinStage(BaseModule):
    """One stage: ``depth`` Swin blocks alternating W-MSA (even index) and
    SW-MSA (odd index), with a patch merging (``downsample``) after them
    (V1, as MMDetection and the official code: stages 0..n-2 end with the
    merging into the next stage) or before them (V2, as MMPretrain: stages
    1..n-1 start with it).

    Args:
        embed_dims: Channels of the blocks.
        depth: Number of blocks (even in every published model).
        merging: 'after' (blocks at C, merging to 2C), 'before' (merging
            from C/2 to C, then blocks) or None.
        drop_path_rates: Stochastic depth per block.
        patch_norm: Norm inside patch merging.
        with_cp: Gradient checkpointing of each block and of the patch
            merging.
        block_cls: The block (default :class:`SwinBlock`).
        merging_cls: The patch merging (default :class:`PatchMerging`).
        block_cfg: Remaining :class:`SwinBlock` arguments.
    """

    def __init__(self,
                 embed_dims: int,
                 depth: int,
                 num_heads: int,
                 merging: Optional[str],
                 drop_path_rates: Sequence[float],
                 norm_cfg: dict = dict(type='LN'),
                 patch_norm: bool = True,
                 with_cp: bool = False,
                 block_cls: type = SwinBlock,
                 merging_cls: type = PatchMerging,
                 init_cfg: Optional[dict] = None,
                 **block_cfg) -> None:
        super().__init__(init_cfg=init_cfg)
        if merging not in ('after', 'before', None):
            raise ValueError(
                f"merging must be 'after', 'before' or None, got {merging!r}")
        self.with_cp = with_cp
        self.merging = merging
        merging_norm = norm_cfg if patch_norm else None
        if merging == 'before':
            self.downsample = merging_cls(
                embed_dims // 2, embed_dims, norm_cfg=merging_norm)
        self.blocks = ModuleList([
            block_cls(
                embed_dims,
                num_heads,
                shift=i % 2 == 1,
                drop_path_rate=drop_path_rates[i],
                norm_cfg=norm_cfg,
                **block_cfg) for i in range(depth)
        ])
        if merging == 'after':
            self.downsample = merging_cls(
                embed_dims, 2 * embed_dims, norm_cfg=merging_norm)
        elif merging is None:
            self.downsample = None

    def merge(self, x: torch.Tensor,
              hw_shape: HWShape) -> Tuple[torch.Tensor, HWShape]:
        """Patch merging, checkpointed with ``with_cp`` (it would otherwise
        keep its 4C-channel norm input and output, more than a block
        keeps)."""
        if self.with_cp and torch.is_grad_enabled():
            return cp.checkpoint(
                self.downsample, x, hw_shape, use_reentrant=False)
        return self.downsample(x, hw_shape)

    def forward(
        self, x: torch.Tensor, hw_shape: HWShape
    ) -> Tuple[torch.Tensor, HWShape, torch.Tensor, HWShape]:
        """(B, H*W, C_in) -> (the stage's output and its (H, W), the next
        stage's input and its (H, W)); the two differ when the merging
        comes after the blocks."""
        if self.merging == 'before':
            x, hw_shape = self.merge(x, hw_shape)
        checkpoint = self.with_cp and torch.is_grad_enabled()
        for block in self.blocks:
            if checkpoint:
                # Non-reentrant checkpointing restores the RNG state, so
                # dropout/drop-path give identical results, and it works when
                # the input does not require grad (frozen earlier stages).
                x = cp.checkpoint(block, x, hw_shape, use_reentrant=False)
            else:
                x = block(x, hw_shape)
        if self.merging == 'after':
            return (x, hw_shape) + self.merge(x, hw_shape)
        return x, hw_shape, x, hw_shape


@MODELS.register_module()
class SwinTransformer(BaseModule):
    """Swin Transformer backbone: 4x / 8x / 16x / 32x feature maps.

    Build from any OpenMMLab config with ``type='swin_mm.SwinTransformer'``.

    Args:
        arch: Preset name ('tiny', 'small', 'base', 'large') or a dict with
            ``embed_dims``, ``depths`` and ``num_heads``.
        embed_dims, depths, num_heads: Override the preset's C, blocks per
            stage and heads per stage.
        pretrain_img_size: Image size of pre-training; sizes the absolute
            position embedding.
        in_channels: Image channels.
        patch_size: Patch side of the patch partition (4).
        window_size: M (7 or 12 for the published models; any int >= 1).
        mlp_ratio: MLP hidden channels / C.
        out_indices: Stages whose (normed) maps are returned.
        qkv_bias, qk_scale: See :class:`WindowMSA`.
        patch_norm: Norm after patch embedding and inside patch merging.
        drop_rate, attn_drop_rate: Dropout rates.
        drop_path_rate: Stochastic depth, rising linearly from 0 over all
            blocks to this value.
        use_abs_pos_embed: Add an absolute position embedding after patch
            embedding, bicubically resized to each input's token grid.
        always_shift: Reproduce MMDetection/MMSegmentation exactly: shift
            even where a stage's map fits in one window. Default False follows
            the official classifier (no shift along such a dimension), which
            ImageNet checkpoints were trained with.
        fast_path: Windows by one precomputed gather and attention by
            PyTorch's fused kernels (see :mod:`swin_mm.models.fast_path`).
            False runs the reference steps (pad, roll, partition, explicit
            softmax); both compute the same features.
        fused_attention: Deprecated name of ``fast_path``.
        act_cfg, norm_cfg: Activation and norm configs.
        with_cp: Gradient checkpointing of every block and patch merging
            (same results, less memory).
        frozen_stages: -1 trains everything; 0 freezes patch embedding (and
            the absolute position embedding); k >= 1 also freezes stages
            0..k-1 with their patch merging and output norms (MMDetection's
            and MMSegmentation's meaning: the same parameters).
        norm_eval: Keep BatchNorm layers (if norm_cfg uses them) in eval mode.
        strides: Downsampling of patch embedding and of each patch merging,
            as MMDetection's and MMSegmentation's Swin take it: only
            ``(patch_size, 2, 2, ...)``, one per stage, is supported (the
            paper's), anything else is an error.
        allow_partial_load: Let a state dict that does not cover this
            backbone exactly (missing, unexpected or mis-shaped keys) load
            what fits, with a warning, instead of raising (see
            :func:`swin_mm.checkpoint.convert_backbone_keys`).
        pretrained: Deprecated alias of
            ``init_cfg=dict(type='Pretrained', checkpoint=pretrained)``.
        convert_weights: Accepted for configs written for MMDetection's Swin;
            swin_mm detects checkpoint layouts itself, so it has no effect.
        init_cfg: Initialization config.

    The parameter tree (names, shapes, order of ``state_dict()``) is
    MMDetection's ``SwinTransformer``'s for the same arguments: stage i's
    blocks, then its patch merging into stage i + 1 (``stages.{i}.
    downsample``, i < n - 1); ``attn.w_msa.{relative_position_bias_table,
    relative_position_index, qkv, proj}``, ``ffn.layers.{0.0,1}``,
    ``norm{i}``. A swin_mm checkpoint therefore loads into the toolkits'
    own Swin as it is, and their name-keyed options (``custom_keys``,
    ``frozen_stages``) reach the same parameters.
    """
    #: The block and the patch merging (V2 changes both), and where each
    #: stage's merging sits: 'after' its blocks (into the next stage, V1 as
    #: MMDetection) or 'before' them (V2 as MMPretrain).
    block_cls: type = SwinBlock
    merging_cls: type = PatchMerging
    merging_position: str = 'after'
    #: The checkpoint layout of this tree (see swin_mm.checkpoint.layouts).
    parameter_tree: str = 'openmmlab'
    arch_zoo: Dict[str, dict] = ARCH_ZOO

    def __init__(self,
                 arch: Union[str, dict] = 'tiny',
                 *,
                 embed_dims: Optional[int] = None,
                 depths: Optional[Sequence[int]] = None,
                 num_heads: Optional[Sequence[int]] = None,
                 pretrain_img_size: Union[int, Tuple[int, int]] = 224,
                 in_channels: int = 3,
                 patch_size: int = 4,
                 window_size: int = 7,
                 mlp_ratio: float = 4.,
                 out_indices: Sequence[int] = (0, 1, 2, 3),
                 qkv_bias: bool = True,
                 qk_scale: Optional[float] = None,
                 patch_norm: bool = True,
                 drop_rate: float = 0.,
                 attn_drop_rate: float = 0.,
                 drop_path_rate: float = 0.1,
                 use_abs_pos_embed: bool = False,
                 always_shift: bool = False,
                 fast_path: bool = True,
                 fused_attention: Optional[bool] = None,
                 act_cfg: dict = dict(type='GELU'),
                 norm_cfg: dict = dict(type='LN'),
                 with_cp: bool = False,
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 strides: Optional[Sequence[int]] = None,
                 allow_partial_load: bool = False,
                 pretrained: Optional[str] = None,
                 convert_weights: Optional[bool] = None,
                 init_cfg: Optional[Union[dict, List[dict]]] = None) -> None:
        init_cfg, fast_path = legacy_arguments(pretrained, init_cfg,
                                               fused_attention, fast_path,
                                               convert_weights)
        super().__init__(init_cfg=init_cfg)
        arch_cfg = resolve_arch(arch, embed_dims, depths, num_heads)
        self.embed_dims = arch_cfg['embed_dims']
        self.depths = arch_cfg['depths']
        self.num_heads = arch_cfg['num_heads']
        self.num_stages = len(self.depths)
        self.out_indices = check_out_indices(out_indices, self.num_stages)
        self.frozen_stages = check_frozen_stages(frozen_stages,
                                                 self.num_stages)
        check_strides(strides, patch_size, self.num_stages)
        self.pos_embed_grid = pretrain_grid(pretrain_img_size, patch_size)
        self.norm_eval = norm_eval
        self.allow_partial_load = allow_partial_load
        self.in_channels = in_channels
        self.patch_size = patch_size
        self.window_size = window_size
        self.num_features = [
            self.embed_dims * 2**i for i in range(self.num_stages)
        ]

        self.patch_embed = PatchEmbed(
            in_channels,
            self.embed_dims,
            patch_size,
            norm_cfg=norm_cfg if patch_norm else None)
        self.use_abs_pos_embed = use_abs_pos_embed
        if use_abs_pos_embed:
            h, w = self.pos_embed_grid
            self.absolute_pos_embed = nn.Parameter(
                torch.zeros(1, h * w, self.embed_dims))  # 1, h*w, C
        self.drop_after_pos = nn.Dropout(drop_rate)

        # Stochastic depth rises linearly over all blocks.
        dpr = torch.linspace(0, drop_path_rate, sum(self.depths)).tolist()
        block_cfg = dict(
            always_shift=always_shift,
            mlp_ratio=mlp_ratio,
            qkv_bias=qkv_bias,
            drop_rate=drop_rate,
            attn_drop_rate=attn_drop_rate,
            act_cfg=act_cfg)
        if qk_scale is not None:
            block_cfg['qk_scale'] = qk_scale
        self.stages = ModuleList()
        for i, depth in enumerate(self.depths):
            first = sum(self.depths[:i])
            self.stages.append(
                SwinStage(
                    embed_dims=self.num_features[i],
                    depth=depth,
                    num_heads=self.num_heads[i],
                    merging=self.stage_merging(i),
                    drop_path_rates=dpr[first:first + depth],
                    norm_cfg=norm_cfg,
                    patch_norm=patch_norm,
                    with_cp=with_cp,
                    block_cls=self.block_cls,
                    merging_cls=self.merging_cls,
                    **block_cfg,
                    **self.stage_block_options(i)))
        for i in self.out_indices:
            self.add_module(
                f'norm{i}',
                build_norm_layer(norm_cfg, self.num_features[i])[1])
        self.set_fast_path(fast_path)
        self._freeze_stages()

    def set_fast_path(self, enabled: bool) -> None:
        """Turn the fast path (:mod:`swin_mm.models.fast_path`: fused
        window gathers and attention, oneDNN linear layers) on or off for
        every block and linear layer; off, everything is plain PyTorch.
        Both compute the same features."""
        self.fast_path = bool(enabled)
        for module in self.modules():
            if isinstance(module, (SwinBlock, Linear)):
                module.fast_path = self.fast_path

    def stage_merging(self, i: int) -> Optional[str]:
        """Where stage i's patch merging sits (see :class:`SwinStage`)."""
        if self.merging_position == 'after':
            return 'after' if i < self.num_stages - 1 else None
        return 'before' if i > 0 else None

    def stage_block_options(self, i: int) -> dict:
        """Block arguments of stage i (V1: the one window size)."""
        return dict(window_size=check_window_size(self.window_size))

    def get_layer_depth(self, param_name: str) -> Tuple[int, int]:
        """(depth, number of depths) of a backbone parameter, for layer-wise
        learning-rate decay, as MMPretrain numbers them: the patch
        embedding (and absolute position embedding) 0; block b of stage s
        the blocks before it + b + 1; a patch merging the block next to it
        in the tree (V1: the last block of the stage it ends; V2: the first
        block of the stage it starts); everything else (output norms) the
        last depth, sum(depths) + 1, with the neck and heads."""
        num_layers = sum(self.depths) + 2
        parts = param_name.split('.')
        if parts[0] in ('patch_embed', 'absolute_pos_embed'):
            return 0, num_layers
        if parts[0] != 'stages':
            return num_layers - 1, num_layers
        stage = int(parts[1])
        before = sum(self.depths[:stage])
        if parts[2] == 'blocks':
            return before + int(parts[3]) + 1, num_layers
        if self.stages[stage].merging == 'after':
            return before + self.depths[stage], num_layers
        return before + 1, num_layers

    def _frozen_modules(self) -> List[nn.Module]:
        if self.frozen_stages < 0:
            return []
        modules = [self.patch_embed, self.drop_after_pos]
        for i in range(self.frozen_stages):
            modules.append(self.stages[i])
            if i in self.out_indices:
                modules.append(getattr(self, f'norm{i}'))
        return modules

    def _freeze_stages(self) -> None:
        """Stop gradients and set eval mode for the frozen modules.

        Done at construction, so a model wrapped in DistributedDataParallel
        never sees a parameter switch from trainable to frozen, and again in
        :meth:`train`, which would otherwise put them back in train mode.
        """
        if self.frozen_stages >= 0 and self.use_abs_pos_embed:
            self.absolute_pos_embed.requires_grad = False
        for module in self._frozen_modules():
            module.eval()
            for param in module.parameters():
                param.requires_grad = False

    def train(self, mode: bool = True) -> 'SwinTransformer':
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for module in self.modules():
                if isinstance(module, _BatchNorm):
                    module.eval()
        return self

    def _load_from_state_dict(self, state_dict: dict, prefix: str, *args,
                              **kwargs) -> None:
        """Whatever loads a state dict into this backbone, or into a model
        holding it (``load_state_dict``, mmengine's ``load_checkpoint``, the
        runner's ``load_from`` and ``resume``), its keys under ``prefix``
        are first converted from any supported layout, and a state dict
        that does not fit is an error (see
        :func:`swin_mm.checkpoint.convert_backbone_keys`)."""
        convert_backbone_keys(self, state_dict, prefix,
                              self.allow_partial_load)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def init_weights(self) -> None:
        """Truncated-normal (std 0.02) linears and bias tables, LayerNorm
        1 / 0; then, with ``init_cfg=dict(type='Pretrained',
        checkpoint=...)``, a checkpoint of any supported layout (see
        :func:`swin_mm.checkpoint.load_pretrained`). Other ``init_cfg``
        types go to mmengine."""
        if self.init_cfg is not None and not is_pretrained(self.init_cfg):
            super().init_weights()
            return
        self.init_from_scratch()
        if self.init_cfg is not None:
            load_pretrained(self, **pretrained_kwargs(self.init_cfg))
        self._is_init = True

    def init_from_scratch(self) -> None:
        """The initialisation of training from scratch (see
        :meth:`init_weights`)."""
        if self.use_abs_pos_embed:
            trunc_normal_(self.absolute_pos_embed, std=.02)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                trunc_normal_(module.weight, std=.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, WindowAttention):
                module.init_weights()

    def _check_input(self, x: torch.Tensor) -> None:
        expected = (f'(N, {self.in_channels}, H, W) with H, W >= '
                    f'{self.patch_size}')
        if not isinstance(x, torch.Tensor) or x.dim() != 4:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x)
            raise ValueError(
                f'SwinTransformer expects a 4-D tensor {expected}, got '
                f'{shape}')
        if x.shape[1] != self.in_channels:
            raise ValueError(f'SwinTransformer expects {expected}, got '
                             f'{x.shape[1]} channels (shape '
                             f'{tuple(x.shape)})')
        if min(x.shape[2:]) < self.patch_size:
            raise ValueError(f'SwinTransformer expects {expected} (one '
                             f'patch at least), got {tuple(x.shape)}')

    @traced_form
    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """(N, C_in, H, W) -> maps of the ``out_indices`` stages, each
        (N, C * 2**i, ceil(H / 2**(i+2)), ceil(W / 2**(i+2)))."""
        self._check_input(x)
        x, hw_shape = self.patch_embed(x)  # B, L, C
        if self.use_abs_pos_embed:
            x = x + self.absolute_position_embedding(hw_shape)  # 1, L, C
        x = self.drop_after_pos(x)

        outs = []
        for i, stage in enumerate(self.stages):
            out, out_hw, x, hw_shape = stage(x, hw_shape)
            if i in self.out_indices:
                out = getattr(self, f'norm{i}')(out)  # B, L_i, C_i
                out = out.view(out.shape[0], *out_hw, self.num_features[i])
                # A copy in channels-first order (clone, not contiguous():
                # that one guards on sizes of 1 when traced).
                outs.append(
                    out.permute(0, 3, 1,
                                2).clone(memory_format=torch.contiguous_format)
                )  # B, C_i, H_i, W_i
        return tuple(outs)

    def absolute_position_embedding(self, hw_shape: HWShape) -> torch.Tensor:
        """The absolute position embedding of an (H, W) token grid:
        (1, H*W, C), bicubically resized from the pre-training grid."""
        pos = self.absolute_pos_embed  # 1, h*w, C
        h, w = self.pos_embed_grid
        if (h, w) == tuple(hw_shape):
            return pos
        grid = pos.view(1, h, w, -1).permute(0, 3, 1, 2)  # 1, C, h, w
        grid = F.interpolate(
            grid, size=hw_shape, mode='bicubic', align_corners=False)
        return grid.flatten(2).transpose(1, 2)  # 1, H*W, C

"""Swin Transformer V2 backbone for detection and segmentation.

Implements "Swin Transformer V2: Scaling Up Capacity and Resolution" (Liu et
al., CVPR 2022, https://arxiv.org/abs/2111.09883) on V1's machinery (the
attention formula, stages, outputs, freezing, checkpointing, the fast
path), changing what V2 changes:

- scaled cosine attention: cos(q, k) times a learnable per-head logit scale,
  exp(min(logit_scale, log 100)), initialised at log 10;
- log-spaced continuous position bias: a 2-layer MLP (2 -> 512 -> heads) on
  :func:`~swin_mm.models.layers.log_spaced_relative_coords`, through
  16 * sigmoid; a different window size needs no table resize;
- res-post-norm: x = x + DropPath(LN(attn(x))), x = x + DropPath(LN(mlp(x)));
- q and v biases, no k bias;
- patch merging with the norm after the reduction (:class:`PatchMergingV2`);
- per-stage window sizes and pretrained window sizes.
"""
import math
from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn

from swin_mm.registry import MODELS
from ..fast_path import Linear
from ..layers.patch import PatchMergingV2
from ..layers.windows import (gather_relative_position_bias,
                              log_spaced_relative_coords,
                              relative_position_index)
from ..tracing import eager_cache
from .arguments import resolve_arch
from .swin_transformer import SwinBlock, SwinTransformer, WindowAttention


class WindowCosineMSA(WindowAttention):
    """Swin V2 window attention:

        softmax(cos(q, k) * exp(min(logit_scale, log 100))
                + 16 * sigmoid(CPB(log-spaced coords)) + mask) v

    Args:
        embed_dims: Channels C.
        num_heads: Attention heads; C must be divisible by it.
        window_size: M.
        qkv_bias: Learnable biases on q and v (k has none).
        pretrained_window_size: Window size of pre-training; relative
            coordinates are normalised by it (0: by this window size).
        cpb_hidden: Hidden width of the continuous position bias MLP.
        attn_drop_rate: Dropout on attention weights.
        proj_drop_rate: Dropout after the output projection.
    """
    #: logit_scale is clamped to this before exp: attention logits are
    #: cosines scaled by at most 100.
    MAX_LOGIT_SCALE = math.log(100.)
    INIT_LOGIT_SCALE = math.log(10.)

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 window_size: int,
                 qkv_bias: bool = True,
                 pretrained_window_size: int = 0,
                 cpb_hidden: int = 512,
                 attn_drop_rate: float = 0.,
                 proj_drop_rate: float = 0.,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(embed_dims, num_heads, window_size, attn_drop_rate,
                         proj_drop_rate, init_cfg)
        # Registered in MMPretrain's WindowMSAV2 order, so state dicts match
        # key for key.
        self.pretrained_window_size = pretrained_window_size
        self.cpb_mlp = nn.Sequential(
            nn.Linear(2, cpb_hidden), nn.ReLU(inplace=True),
            nn.Linear(cpb_hidden, num_heads, bias=False))
        self.logit_scale = nn.Parameter(
            torch.full((num_heads, 1, 1), self.INIT_LOGIT_SCALE))
        side = 2 * window_size - 1
        # Derived from the window sizes: rebuilt, never read from a
        # checkpoint.
        self.register_buffer('relative_coords_table',
                             log_spaced_relative_coords(
                                 window_size, pretrained_window_size).view(
                                     1, side, side, 2))  # 1, 2M-1, 2M-1, 2
        self.register_buffer('relative_position_index',
                             relative_position_index(window_size))  # N, N
        self.qkv = Linear(embed_dims, embed_dims * 3, bias=False)
        if qkv_bias:
            self.q_bias = nn.Parameter(torch.zeros(embed_dims))
            self.v_bias = nn.Parameter(torch.zeros(embed_dims))
        else:
            self.q_bias = self.v_bias = None
        self.proj = Linear(embed_dims, embed_dims)

    def init_weights(self) -> None:
        nn.init.constant_(self.logit_scale, self.INIT_LOGIT_SCALE)
        if self.q_bias is not None:
            nn.init.zeros_(self.q_bias)
            nn.init.zeros_(self.v_bias)

    def qkv_projection(self, windows: torch.Tensor) -> torch.Tensor:
        qkv = self.qkv(windows)  # Bw, N, 3C
        if self.q_bias is None:
            return qkv
        return qkv + torch.cat(
            [self.q_bias,
             torch.zeros_like(self.v_bias), self.v_bias])  # 3C

    def logit_scale_value(self) -> torch.Tensor:
        """exp(min(logit_scale, log 100)) per head: (heads, 1, 1)."""
        return torch.clamp(self.logit_scale, max=self.MAX_LOGIT_SCALE).exp()

    def scaled_qk(self, q: torch.Tensor,
                  k: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, float]:
        # Unit q and k make q k^T the cosine; the scale rides on q.
        q = unit_vectors(q) * self.logit_scale_value()
        return q, unit_vectors(k), 1.0

    def relative_position_bias(self,
                               window_size: Optional[int] = None
                               ) -> torch.Tensor:
        coords = self.relative_coords_table.view(-1, 2)  # (2M-1)^2, 2
        index = self.relative_position_index.view(-1)  # N*N
        if window_size not in (None, self.window_size):
            # A window shrunk to a small map: the bias is continuous.
            coords, index = _relative_tables(window_size,
                                             self.pretrained_window_size,
                                             coords.device)
        table = self.cpb_mlp(coords)  # (2M-1)^2, heads
        bias = gather_relative_position_bias(table, index)  # heads, N, N
        return 16 * torch.sigmoid(bias)

    def bias_parameters(self) -> List[nn.Parameter]:
        return list(self.cpb_mlp.parameters())


def unit_vectors(x: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """x / max(|x|, eps) along the last dim, as ``F.normalize``, except
    that a zero vector is divided by 1: the same zero, with gradient 1
    instead of 1 / eps.

    Padding slots hold the projection of a zero token, whose key is zero
    (V2 has no key bias). ``F.normalize`` gives that key a gradient of
    1e12 x upstream: finite in fp32 but infinite in fp16 under autocast,
    and the qkv weight gradient then multiplies it by the zero token (NaN)
    at any loss scale.
    """
    norm = x.norm(dim=-1, keepdim=True)  # ..., 1
    return x / torch.where(norm > 0, norm.clamp_min(eps), 1.)


@eager_cache(maxsize=16)
def _relative_tables(
        window_size: int, pretrained_window_size: int,
        device: torch.device) -> Tuple[torch.Tensor, torch.Tensor]:
    """(log-spaced coordinates, flattened relative index) of a window,
    built on ``device`` (no copy from the host)."""
    return (log_spaced_relative_coords(window_size, pretrained_window_size,
                                       device),
            relative_position_index(window_size, device).view(-1))


class SwinBlockV2(SwinBlock):
    """Swin V2 block: cosine window attention and res-post-norm.

    On a map no larger than the window (min(H, W) <= M) the window shrinks
    to min(H, W) and the block does not shift, as in the official V2 code
    (whose checkpoints were trained so); ``always_shift=True`` keeps the
    window and pads instead, like V1 in MMDetection.

    Arguments as :class:`SwinBlock`; ``attn_kwargs`` go to
    :class:`WindowCosineMSA` (``qkv_bias``, ``pretrained_window_size``).
    """
    attention_cls = WindowCosineMSA
    post_norm = True

    # Res-post-norm: LN on each branch's output, none before it.
    def norm_before_attention(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def norm_after_attention(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm1(x)

    def norm_before_mlp(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def norm_after_mlp(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm2(x)


def _per_stage(value: Union[int, Sequence[int]], num_stages: int, name: str,
               minimum: int) -> Tuple[int, ...]:
    values = (value, ) * num_stages if isinstance(value, int) else tuple(value)
    if len(values) != num_stages or any(not isinstance(v, int) or v < minimum
                                        for v in values):
        raise ValueError(
            f'{name} must be an int >= {minimum} or one per stage '
            f'({num_stages} stages), got {value!r}')
    return values


@MODELS.register_module()
class SwinTransformerV2(SwinTransformer):
    """Swin Transformer V2 backbone: 4x / 8x / 16x / 32x feature maps.

    Build from any OpenMMLab config with ``type='swin_mm.SwinTransformerV2'``.
    Everything :class:`SwinTransformer` offers applies (out_indices with
    per-output norms, frozen_stages, with_cp, any input size, the fast
    path, checkpoint loading); the differences:

    Args:
        arch: 'tiny', 'small', 'base', 'large' (V2's presets are V1's) or a
            dict (as V1).
        window_size: M, one int or one per stage (e.g. 8 or 16 for the
            ImageNet-1K models; (12, 12, 12, 6) for window-12 22K models).
        pretrained_window_size: Window size(s) of pre-training, for the
            coordinate normalisation of the position bias; 0 uses the
            window size itself.
        qkv_bias: q and v biases (V2 has no k bias).
        kwargs: The remaining :class:`SwinTransformer` arguments, except
            ``qk_scale`` (cosine attention has none).

    The parameter tree is MMPretrain's ``SwinTransformerV2``'s: each stage
    but the first starts with its patch merging (``stages.{i}.downsample``,
    reduction before norm), blocks hold ``attn.w_msa.{logit_scale, q_bias,
    v_bias, relative_coords_table, relative_position_index, cpb_mlp, qkv,
    proj}``, ``norm1``, ``ffn.layers``, ``norm2``. ``frozen_stages=k``
    freezes the patch embedding and stages 0..k-1 (as V1 here and in
    MMDetection; MMPretrain's V2 also freezes stage k).
    """
    block_cls = SwinBlockV2
    merging_cls = PatchMergingV2
    merging_position = 'before'
    parameter_tree = 'openmmlab_v2'

    def __init__(self,
                 arch: Union[str, dict] = 'tiny',
                 *,
                 window_size: Union[int, Sequence[int]] = 8,
                 pretrained_window_size: Union[int, Sequence[int]] = 0,
                 qk_scale: Optional[float] = None,
                 **kwargs) -> None:
        if qk_scale is not None:
            raise ValueError(
                'SwinTransformerV2 has no qk_scale: its cosine attention is '
                'scaled by the learned logit_scale')
        arch_cfg = resolve_arch(arch, kwargs.get('embed_dims'),
                                kwargs.get('depths'), kwargs.get('num_heads'))
        num_stages = len(arch_cfg['depths'])
        # Read by stage_block_options while the stages are built.
        self.window_sizes = _per_stage(window_size, num_stages, 'window_size',
                                       1)
        self.pretrained_window_sizes = _per_stage(pretrained_window_size,
                                                  num_stages,
                                                  'pretrained_window_size', 0)
        super().__init__(arch, window_size=self.window_sizes[0], **kwargs)

    def stage_block_options(self, i: int) -> dict:
        return dict(
            window_size=self.window_sizes[i],
            pretrained_window_size=self.pretrained_window_sizes[i])

    def init_from_scratch(self) -> None:
        """V1's initialisation, then every block's post-norms at zero (as
        the official V2 code starts): each residual branch starts silent."""
        super().init_from_scratch()
        for stage in self.stages:
            for block in stage.blocks:
                for norm in (block.norm1, block.norm2):
                    nn.init.zeros_(norm.weight)
                    nn.init.zeros_(norm.bias)

"""Patch partition, linear embedding and patch merging (Swin paper, Sec. 3.1).

- :class:`PatchEmbed`: split the image into 4 x 4 patches (4 * 4 * 3 = 48
  values each) and project them linearly to C channels; a stride-4 conv is
  exactly that. Inputs whose size is not a multiple of the patch are padded
  at the bottom/right, as in the official detection code.
- :class:`PatchMerging`: concatenate each 2 x 2 neighbourhood (4C channels),
  LayerNorm, Linear 4C -> 2C. Resolution halves, channels double.
  :class:`PatchMergingV2` (Swin V2) normalizes after the reduction.

Parameter names, shapes and order are OpenMMLab's (``projection``, ``norm``,
``reduction``; the 4C channels in ``nn.Unfold``'s order), so checkpoints
move between swin_mm and MMDetection, MMSegmentation and MMPretrain as they
are.
"""
from typing import Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import build_norm_layer
from mmengine.model import BaseModule

from ..fast_path.linear import Linear
from .windows import HWShape


class PatchEmbed(BaseModule):
    """Patch partition + linear embedding.

    Args:
        in_channels: Image channels.
        embed_dims: C, the embedding channels.
        patch_size: Patch side (4 in the paper).
        norm_cfg: Norm after the embedding (``patch_norm``), or None.
    """

    def __init__(self,
                 in_channels: int = 3,
                 embed_dims: int = 96,
                 patch_size: int = 4,
                 norm_cfg: Optional[dict] = dict(type='LN'),
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.patch_size = patch_size
        self.projection = nn.Conv2d(
            in_channels, embed_dims, kernel_size=patch_size, stride=patch_size)
        self.norm = (
            build_norm_layer(norm_cfg, embed_dims)[1] if norm_cfg else None)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, HWShape]:
        """(B, C_in, H, W) image -> ((B, H/4 * W/4, C) tokens, (H/4, W/4))."""
        P = self.patch_size
        H, W = x.shape[-2:]
        x = F.pad(x, (0, (P - W % P) % P, 0, (P - H % P) % P))
        x = self.projection(x)  # B, C, Hp/P, Wp/P
        hw_shape = (x.shape[2], x.shape[3])
        x = x.flatten(2).transpose(1, 2)  # B, L, C
        if self.norm is not None:
            x = self.norm(x)
        return x, hw_shape


class PatchMerging(BaseModule):
    """Patch merging: 2 x 2 neighbourhood concat (4C), norm, Linear 4C -> 2C.

    The 4C channels are ordered as OpenMMLab's ``nn.Unfold`` orders them:
    channel c of neighbour k at 4c + k, the neighbours row by row
    (top-left, top-right, bottom-left, bottom-right). (The official code
    concatenates whole neighbours instead; its checkpoints are converted.)
    Odd sizes are zero-padded at the bottom/right first.

    Args:
        in_channels: C of the input.
        out_channels: Output channels (2C in the paper).
        norm_cfg: Norm applied to the 4C concat, or None.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: Optional[int] = None,
                 norm_cfg: Optional[dict] = dict(type='LN'),
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.in_channels = in_channels
        self.out_channels = out_channels or 2 * in_channels
        self.norm = (
            build_norm_layer(norm_cfg, 4 *
                             in_channels)[1] if norm_cfg else None)
        self.reduction = Linear(4 * in_channels, self.out_channels, bias=False)

    @staticmethod
    def merge(x: torch.Tensor,
              hw_shape: HWShape) -> Tuple[torch.Tensor, HWShape]:
        """Concatenate each 2 x 2 neighbourhood: (B, H*W, C) ->
        ((B, ceil(H/2) * ceil(W/2), 4C), halved shape)."""
        B, L, C = x.shape
        H, W = hw_shape
        Hh, Wh = (H + 1) // 2, (W + 1) // 2
        x = x.view(B, H, W, C)
        x = F.pad(x, (0, 0, 0, 2 * Wh - W, 0, 2 * Hh - H))  # B, 2Hh, 2Wh, C
        x = x.view(B, Hh, 2, Wh, 2, C)  # B, Hh, row in 2x2, Wh, column, C
        # 4C as nn.Unfold orders them: channel-major, then the 2 x 2
        # neighbourhood row by row.
        x = x.permute(0, 1, 3, 5, 2, 4)  # B, Hh, Wh, C, row, column
        return x.reshape(B, Hh * Wh, 4 * C), (Hh, Wh)  # B, Hh*Wh, 4C

    def forward(self, x: torch.Tensor,
                hw_shape: HWShape) -> Tuple[torch.Tensor, HWShape]:
        """(B, H*W, C) -> ((B, ceil(H/2) * ceil(W/2), 2C), halved shape)."""
        x, hw_shape = self.merge(x, hw_shape)  # B, L/4, 4C
        if self.norm is not None:
            x = self.norm(x)
        return self.reduction(x), hw_shape


class PatchMergingV2(PatchMerging):
    """Swin V2 patch merging: the same 2 x 2 concat, Linear 4C -> 2C, then
    the norm on the 2C output (V2 moves it after the reduction).

    Args:
        in_channels: C of the input.
        out_channels: Output channels (2C).
        norm_cfg: Norm applied to the reduced 2C output, or None.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: Optional[int] = None,
                 norm_cfg: Optional[dict] = dict(type='LN'),
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(in_channels, out_channels, None, init_cfg)
        self.norm = (
            build_norm_layer(norm_cfg, self.out_channels)[1]
            if norm_cfg else None)

    def forward(self, x: torch.Tensor,
                hw_shape: HWShape) -> Tuple[torch.Tensor, HWShape]:
        x, hw_shape = self.merge(x, hw_shape)  # B, L/4, 4C
        x = self.reduction(x)  # B, L/4, 2C
        if self.norm is not None:
            x = self.norm(x)
        return x, hw_shape

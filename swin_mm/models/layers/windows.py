"""Window operations of Swin Transformer (Liu et al., ICCV 2021, Sec. 3.2).

Every concept of the shifted-window scheme lives here once, as a free
function that the attention blocks (V1 and V2) and the analysis tools call:

- ``padded_size`` / ``pad_to_window``: a size rounded up to, and a
  (B, H, W, C) map padded to, multiples of the window.
- ``window_shift``: the shift of one block, with the no-shift rule for maps
  that fit in one window.
- ``cyclic_shift``: roll the map towards the top-left (and back).
- ``window_partition`` / ``window_reverse``: (B, H, W, C) <-> windows.
- ``shift_window_regions``: the 9 regions that the cyclic shift brings
  together, labelled 0..8.
- ``shift_window_mask``: the SW-MSA attention mask built from those regions.
- ``relative_position_index``: the index into the relative position bias
  table, (dy + M - 1) * (2M - 1) + (dx + M - 1).
- ``log_spaced_relative_coords``: Swin V2's log-spaced relative offsets, the
  input of its continuous position bias.

The fast path's window plan (``swin_mm.models.fast_path.plan``) computes the
same pad + shift + partition as gather indices by tensor arithmetic; tests
hold it equal to these functions.
"""
import math
from typing import Optional, Tuple

import torch
import torch.nn.functional as F

from ..tracing import eager_cache

#: (H, W) of a map of tokens.
HWShape = Tuple[int, int]

#: Added to attention logits of token pairs from different shift regions.
#: The paper's code uses -100, not -inf, so a fully masked row cannot occur
#: and the softmax stays finite.
SHIFT_MASK_VALUE = -100.0


def padded_size(size: int, window_size: int) -> int:
    """``size`` rounded up to a multiple of the window (floor division of
    non-negative numbers only, which every exporter translates exactly)."""
    return (size + window_size - 1) // window_size * window_size


def pad_to_window(x: torch.Tensor, window_size: int) -> torch.Tensor:
    """Zero-pad a (B, H, W, C) map at the bottom/right to window multiples.

    Padded tokens are not masked, as in the official detection code and
    MMDetection: they are zeros that take part in attention.
    """
    _, H, W, _ = x.shape
    pad_b = padded_size(H, window_size) - H
    pad_r = padded_size(W, window_size) - W
    if pad_b or pad_r:
        x = F.pad(x, (0, 0, 0, pad_r, 0, pad_b))  # B, Hp, Wp, C
    return x


def window_shift(padded_hw: Tuple[int, int],
                 window_size: int,
                 shift_size: int,
                 always_shift: bool,
                 as_tensor: bool = False) -> Tuple[int, int]:
    """The (row, column) cyclic shift of an SW-MSA block on a padded map.

    Along a dimension that fits inside one window (padded size <= window)
    the official classifier does not shift: the map is a single window and
    shifting would only cut it into regions that may not attend to each
    other. MMDetection/MMSegmentation always shift; ``always_shift=True``
    reproduces them.

    With ``as_tensor`` (or symbolic sizes) the rule is decided by 0-d
    tensors, so that a traced program keeps it for every size instead of
    fixing the traced size's answer.
    """
    if always_shift:
        return shift_size, shift_size
    return tuple(
        _shift_if_wider(size, window_size, shift_size, as_tensor)
        for size in padded_hw)


def _shift_if_wider(size, window_size: int, shift_size: int, as_tensor: bool):
    if isinstance(size, int) and not as_tensor:
        return shift_size if size > window_size else 0
    return (torch.full((), size) > window_size).long() * shift_size


def cyclic_shift(x: torch.Tensor, shift: Tuple[int, int]) -> torch.Tensor:
    """Roll a (B, H, W, C) map by ``shift`` rows/columns.

    SW-MSA rolls by (-s, -s) before attention (the top-left strips wrap to
    the bottom-right) and by (+s, +s) after it.
    """
    if shift == (0, 0):
        return x
    return torch.roll(x, shifts=shift, dims=(1, 2))


def window_partition(x: torch.Tensor, window_size: int) -> torch.Tensor:
    """Split a (B, H, W, C) map into non-overlapping M x M windows.

    Returns:
        (B * H/M * W/M, M * M, C): windows in row-major order per image.
    """
    B, H, W, C = x.shape
    M = window_size
    x = x.view(B, H // M, M, W // M, M, C)  # B, nH, M, nW, M, C
    x = x.permute(0, 1, 3, 2, 4, 5)  # B, nH, nW, M, M, C
    return x.reshape(-1, M * M, C)  # B*nH*nW, M*M, C


def window_reverse(windows: torch.Tensor, window_size: int, H: int,
                   W: int) -> torch.Tensor:
    """Inverse of :func:`window_partition`: windows back to (B, H, W, C)."""
    M = window_size
    C = windows.shape[-1]
    x = windows.view(-1, H // M, W // M, M, M, C)  # B, nH, nW, M, M, C
    x = x.permute(0, 1, 3, 2, 4, 5)  # B, nH, M, nW, M, C
    return x.reshape(-1, H, W, C)  # B, H, W, C


def shift_window_regions(padded_hw: Tuple[int, int], window_size: int,
                         shift: Tuple[int, int]) -> torch.Tensor:
    """Label the regions that the cyclic shift brings together.

    After rolling by (-sh, -sw), the map splits along each shifted dimension
    into [0, -M), [-M, -s) and [-s, end): up to 3 x 3 = 9 regions, labelled
    row-major 0..8. Tokens of different regions came from far-apart parts of
    the image and must not attend to each other. A dimension with no shift
    is a single band.

    Returns:
        (Hp, Wp) long tensor of region labels.
    """
    M = window_size

    def bands(size: int, s: int) -> torch.Tensor:
        label = torch.zeros(size, dtype=torch.long)
        if s > 0:
            label[size - M:size - s] = 1
            label[size - s:] = 2
        return label

    (Hp, Wp), (sh, sw) = padded_hw, shift
    return bands(Hp, sh)[:, None] * 3 + bands(Wp, sw)[None, :]  # Hp, Wp


@eager_cache(maxsize=64)
def _shift_window_mask(Hp: int, Wp: int, window_size: int, sh: int, sw: int,
                       device: torch.device) -> torch.Tensor:
    regions = shift_window_regions((Hp, Wp), window_size, (sh, sw))
    # 1, Hp, Wp, 1 -> nW, M*M
    windows = window_partition(regions[None, :, :, None], window_size)[..., 0]
    same_region = windows[:, :, None] == windows[:, None, :]  # nW, N, N
    mask = torch.zeros(same_region.shape)
    mask.masked_fill_(~same_region, SHIFT_MASK_VALUE)
    return mask.to(device)


def shift_window_mask(
    padded_hw: Tuple[int, int],
    window_size: int,
    shift: Tuple[int, int],
    device: torch.device = torch.device('cpu')
) -> torch.Tensor:
    """The SW-MSA attention mask: 0 within a region, -100 across regions.

    Built once per (padded size, window, shift, device) and cached; callers
    must not modify it.

    Returns:
        (nW, M*M, M*M) float32 mask, nW = Hp/M * Wp/M windows in row-major
        order, matching :func:`window_partition`.
    """
    return _shift_window_mask(padded_hw[0], padded_hw[1], window_size,
                              shift[0], shift[1], torch.device(device))


def relative_position_index(
        window_size: int,
        device: Optional[torch.device] = None) -> torch.Tensor:
    """Index of each token pair of an M x M window into the bias table.

    For tokens i, j with row/column offsets dy = y_i - y_j, dx = x_i - x_j
    (each in [-(M-1), M-1]) the index is (dy + M - 1) * (2M - 1) + dx + M - 1,
    so the table has (2M - 1)^2 rows.

    Returns:
        (M*M, M*M) long tensor.
    """
    M = window_size
    a = torch.arange(M, device=device)  # M
    coords = torch.stack(torch.meshgrid(a, a, indexing='ij'))  # 2, M, M
    coords = coords.flatten(1)  # 2, M*M (rows y, columns x)
    offsets = coords[:, :, None] - coords[:, None, :]  # 2, M*M, M*M
    dy, dx = offsets[0] + M - 1, offsets[1] + M - 1
    return dy * (2 * M - 1) + dx  # M*M, M*M


def gather_relative_position_bias(table: torch.Tensor,
                                  index: torch.Tensor) -> torch.Tensor:
    """The bias of every token pair of a window, read from a per-offset
    table: ((2M-1)^2, heads) table, flattened (M*M * M*M,) index ->
    (heads, M*M, M*M).

    Contiguous (a small copy): sums with it then are too, where a permuted
    operand would give them its layout, and softmax or a fused attention
    kernel would copy the whole logits into a contiguous one.
    """
    N = math.isqrt(index.numel())
    bias = table.index_select(0, index)  # N*N, heads
    return bias.view(N, N, -1).permute(2, 0, 1).contiguous()  # heads, N, N


def log_spaced_relative_coords(
        window_size: int,
        pretrained_window_size: int = 0,
        device: Optional[torch.device] = None) -> torch.Tensor:
    """Swin V2's log-spaced relative coordinates of an M x M window.

    Every offset (dy, dx) in [-(M-1), M-1]^2 is normalised by (pretrained
    window size - 1) when one is given (else by M - 1), scaled by 8 and
    mapped by sign(x) * log2(|x| + 1) / log2(8). Rows follow
    :func:`relative_position_index`: row (dy + M - 1) * (2M - 1) +
    (dx + M - 1).

    Returns:
        ((2M - 1)^2, 2) float32 table of (dy, dx).
    """
    M = window_size
    offsets = torch.arange(
        -(M - 1), M, dtype=torch.float32, device=device)  # 2M-1
    table = torch.stack(
        torch.meshgrid(offsets, offsets, indexing='ij'),
        dim=-1)  # 2M-1, 2M-1, 2 (dy, dx)
    reference = pretrained_window_size if pretrained_window_size > 0 else M
    table = table / max(reference - 1, 1) * 8
    table = torch.sign(table) * torch.log2(table.abs() + 1) / math.log2(8)
    return table.view(-1, 2)  # (2M-1)^2, 2

"""Window plans: pad + cyclic shift + window partition (and their inverse)
as one row gather, with each image's windows grouped by their shift mask.

A plan is a tensor program: the gather and scatter indices and the masks
are computed by tensor ops (``arange``, comparisons, integer arithmetic)
from the map's size, on the input's device, with no loop over windows and
no value read back to the host. So the same code runs eagerly and traces
with symbolic H and W (``torch.export``, ONNX, ``torch.compile``): a traced
plan is part of the graph and serves every input size.

The shifted-window scheme makes the masks simple. After the cyclic shift
by (-sh, -sw), only the last row of windows (if sh > 0) straddles two of
the paper's regions, split at row M - sh of the window, and only the last
column of windows (if sw > 0), split at column M - sw. So a window's mask is
one of four, fixed by (is it in the last row and shifted, is it in the last
column and shifted): group 0 (interior, no mask), 1 (column split),
2 (row split), 3 (both). The four masks depend on M and the shift size
only, never on the map's size; that they equal the paper's 9-region mask
(``swin_mm.models.layers.windows.shift_window_mask``) is tested.
"""
from typing import NamedTuple, Optional, Tuple, Union

import torch

from ..layers.windows import SHIFT_MASK_VALUE, padded_size
from ..tracing import eager_cache, tracing

#: A size or shift: a Python int eagerly; under tracing a symbolic int, or
#: a 0-d tensor where a rule on symbolic sizes decides it.
Size = Union[int, torch.SymInt, torch.Tensor]
Run = Tuple[int, int, int]  # first window, windows, mask group


class WindowPlan(NamedTuple):
    """Where every token of a (B, H, W) map goes for (S)W-MSA, and back.

    Windows are ordered image by image, and within an image by mask group
    (eagerly; in a traced plan, row-major), so that windows sharing a mask
    form contiguous runs: fused attention then takes one (N, N) mask per
    run instead of one per window.

    Attributes:
        gather_index: (B*nW*N,) row of the source for every window slot.
            With ``zero_row`` the source is the flattened map with one zero
            row prepended (row 0, read by padding slots), else the map itself.
        scatter_index: (B*H*W,) window slot of every token, in map order.
        window_masks: (nW, N, N) float32 shift mask of each window of one
            image, in plan order (the same for every image); None without
            shift.
        group_masks: (4, N, N) float32: the masks of groups 0-3.
        window_groups: (B*nW,) mask group (0-3) of every window, in plan
            order.
        runs: (first window, windows, group) of each run of consecutive
            windows (over the whole batch) that share group_masks[group];
            None in a traced plan (sizes unknown when tracing).
        zero_row: Whether padding slots exist (a zero row must be
            prepended); always True in a traced plan.
        window_size: M.
    """
    gather_index: torch.Tensor
    scatter_index: torch.Tensor
    window_masks: Optional[torch.Tensor]
    group_masks: torch.Tensor
    window_groups: torch.Tensor
    runs: Optional[Tuple[Run, ...]]
    zero_row: bool
    window_size: int

    def runs_within(self, start: int, stop: int) -> Tuple[Run, ...]:
        """The runs clipped to windows [start, stop), counted from start."""
        clipped = []
        for first, count, group in self.runs:
            lo, hi = max(first, start), min(first + count, stop)
            if lo < hi:
                clipped.append((lo - start, hi - lo, group))
        return tuple(clipped)


class ImagePlan(NamedTuple):
    """The plan of one image (see :class:`WindowPlan`): ``gather_index``
    (nW*N,) holds 1 + the token's row-major index, 0 for padding slots
    (the index itself without ``zero_row``); ``scatter_index`` (H*W,);
    ``window_groups`` (nW,); ``group_counts``: windows in each mask group
    0-3 eagerly, None traced."""
    gather_index: torch.Tensor
    scatter_index: torch.Tensor
    window_masks: Optional[torch.Tensor]
    group_masks: torch.Tensor
    window_groups: torch.Tensor
    group_counts: Optional[Tuple[int, int, int, int]]
    zero_row: bool


def group_masks(window_size: int, shift_size: int,
                device: torch.device) -> torch.Tensor:
    """The four masks of a shifted window (see the module docstring):
    (4, N, N) float32, 0 within a region, SHIFT_MASK_VALUE across.

    Group g splits the window's rows at M - s if g & 2 and its columns at
    M - s if g & 1; a token's label is (lower part) * 2 + (right part).
    """
    M, s = window_size, shift_size
    lower = torch.arange(M, device=device) >= M - s  # M
    g = torch.arange(4, device=device)  # 4 (no host data: no copy to device)
    row_split, col_split = g >= 2, g % 2 == 1  # 4 each
    labels = ((row_split[:, None, None] & lower[None, :, None]).long() * 2 +
              (col_split[:, None, None] & lower[None, None, :]).long()
              )  # 4, M (row), M (column)
    labels = labels.view(4, M * M)  # 4, N
    different = labels[:, :, None] != labels[:, None, :]  # 4, N, N
    return different.float() * SHIFT_MASK_VALUE  # 4, N, N


def _as_tensor(value: Size, device: torch.device) -> torch.Tensor:
    """A size or shift as a 0-d long tensor (``torch.full`` keeps a symbolic
    int symbolic in every exporter)."""
    if isinstance(value, torch.Tensor):
        return value.to(device=device, dtype=torch.long)
    return torch.full((), value, dtype=torch.long, device=device)


def image_plan(hw_shape: Tuple[Size, Size], window_size: int, shift_size: int,
               shift: Tuple[Size, Size], device: torch.device) -> ImagePlan:
    """The :class:`ImagePlan` of an (H, W) map, by tensor ops.

    Args:
        hw_shape: (H, W), ints or symbolic ints.
        window_size: M.
        shift_size: s, the shift of a shifted block (M // 2).
        shift: (sh, sw), each s or 0 (``window_shift``): ints, or 0-d
            tensors when decided on symbolic sizes.
    """
    H, W = hw_shape
    M = window_size
    Hp, Wp = padded_size(H, M), padded_size(W, M)
    nH, nWc, N = Hp // M, Wp // M, M * M
    eager = not tracing() and all(isinstance(v, int) for v in (H, W, *shift))
    # Sizes as 0-d tensors: arithmetic with symbolic ints stays in the graph.
    H_, W_, Hp_, Wp_, nH_, nWc_, sh, sw = (
        _as_tensor(v, device) for v in (H, W, Hp, Wp, nH, nWc, *shift))

    # Mask group of each window (nH, nWc): split rows in the last window
    # row when shifted vertically, split columns in the last window column
    # when shifted horizontally.
    last_row = torch.arange(nH, device=device) == nH_ - 1  # nH
    last_col = torch.arange(nWc, device=device) == nWc_ - 1  # nWc
    group = ((last_row & (sh > 0)).long()[:, None] * 2 +
             (last_col & (sw > 0)).long()[None, :]).view(nH * nWc)  # nW
    if eager:
        order = torch.argsort(group, stable=True)  # nW, windows by group
        rank = torch.empty_like(order)
        rank[order] = torch.arange(order.numel(), device=device)  # nW
        group = group[order]
    else:
        order = rank = torch.arange(nH * nWc, device=device)  # nW

    # Gather: the source token of every slot of the shifted, padded map.
    a = torch.arange(M, device=device)  # M (row or column in a window)
    rows = (order // nWc_)[:, None] * M + a[None, :]  # nW, M (shifted map)
    cols = (order % nWc_)[:, None] * M + a[None, :]  # nW, M
    src_y = (rows + sh) % Hp_  # nW, M (map row before the shift)
    src_x = (cols + sw) % Wp_  # nW, M
    inside = (src_y < H_)[:, :, None] & (src_x < W_)[:, None, :]  # nW, M, M
    token = src_y[:, :, None] * W_ + src_x[:, None, :] + 1  # nW, M, M
    gather = torch.where(inside, token, 0).view(nH * nWc * N)  # nW*N

    # Scatter: the slot of every token of the map.
    dst_y = (torch.arange(H, device=device) - sh) % Hp_  # H (shifted row)
    dst_x = (torch.arange(W, device=device) - sw) % Wp_  # W
    window = (dst_y // M)[:, None] * nWc_ + (dst_x // M)[None, :]  # H, W
    slot = (rank[window] * N + (dst_y % M)[:, None] * M + (dst_x % M)[None, :]
            )  # H, W
    scatter = slot.view(H * W)  # L

    masks = group_masks(M, shift_size, device) if shift_size else \
        torch.zeros(4, N, N, device=device)  # 4, N, N
    if eager:
        rs, cs = int(shift[0] > 0), int(shift[1] > 0)
        counts = ((nH - rs) * (nWc - cs), (nH - rs) * cs, rs * (nWc - cs),
                  rs * cs)
        shifted = (rs or cs)
        zero_row = Hp != H or Wp != W
    else:
        counts, shifted, zero_row = None, bool(shift_size), True
    if not zero_row:
        gather = gather - 1
    window_masks = masks[group] if shifted else None  # nW, N, N
    return ImagePlan(gather, scatter, window_masks, masks, group, counts,
                     zero_row)


def batch_runs(counts: Tuple[int, ...], batch: int) -> Tuple[Run, ...]:
    """Runs of windows sharing a mask over ``batch`` images, each image's
    windows ordered by group with ``counts`` windows in group 0..3."""
    runs = []
    first = 0
    for _ in range(batch):
        for group, count in enumerate(counts):
            if not count:
                continue
            if runs and runs[-1][2] == group:
                runs[-1] = (runs[-1][0], runs[-1][1] + count, group)
            else:
                runs.append((first, count, group))
            first += count
    return tuple(runs)


@eager_cache(maxsize=64)
def cached_image_plan(hw_shape: Tuple[Size, Size], window_size: int,
                      shift_size: int, shift: Tuple[Size, Size],
                      device: torch.device) -> ImagePlan:
    """:func:`image_plan`, cached per map size (not per batch) for eager
    calls; never filled while tracing."""
    return image_plan(hw_shape, window_size, shift_size, shift, device)


def window_plan(batch: Size,
                hw_shape: Tuple[Size, Size],
                window_size: int,
                shift: Tuple[Size, Size],
                device: torch.device = torch.device('cpu'),
                shift_size: Optional[int] = None) -> WindowPlan:
    """The :class:`WindowPlan` of a (batch, H, W) map.

    Equivalent to ``window_partition(cyclic_shift(pad_to_window(x), -shift))``
    followed by :func:`window_reverse`, the inverse shift and cropping, with
    each image's windows reordered by mask group (see :class:`WindowPlan`).

    Args:
        shift_size: s when ``shift`` is (0, 0) by the no-shift rule of a
            shifted block (default: the larger of ``shift``).
    """
    device = torch.device(device)
    if shift_size is None:
        shift_size = max(shift) if all(isinstance(v, int)
                                       for v in shift) else 0
    plan = cached_image_plan(hw_shape, window_size, shift_size, shift, device)
    H, W = hw_shape
    L, slots = H * W, plan.gather_index.shape[0]
    image = torch.arange(batch, device=device)[:, None]  # B, 1
    gather = plan.gather_index[None, :]  # 1, nW*N
    if plan.zero_row:
        gather = gather + (gather > 0).long() * (image * L)  # B, nW*N
    else:
        gather = gather + image * L  # B, nW*N
    scatter = plan.scatter_index[None, :] + image * slots  # B, L
    runs = None if plan.group_counts is None else batch_runs(
        plan.group_counts, batch)
    return WindowPlan(
        gather.view(batch * slots),
        scatter.view(batch * L), plan.window_masks, plan.group_masks,
        plan.window_groups.repeat(batch), runs, plan.zero_row, window_size)

"""Window plans: pad + cyclic shift + window partition (and their inverse)
as one precomputed row gather, with each image's windows grouped by their
shift mask.

A plan is built by applying ``pad_to_window``, ``cyclic_shift`` and
``window_partition`` (``swin_mm.models.layers.windows``) to a map of token
ids, so it is the same operation, bit for bit, not a second definition of
it.
"""
from functools import lru_cache
from typing import NamedTuple, Optional, Tuple

import torch

from ..layers.windows import (cyclic_shift, pad_to_window, shift_window_mask,
                              window_partition)


class WindowPlan(NamedTuple):
    """Where every token of a (B, H, W) map goes for (S)W-MSA, and back.

    Windows are ordered image by image, and within an image by shift mask,
    so that windows sharing a mask form contiguous runs: fused attention
    then takes one (N, N) mask per run instead of one per window. W-MSA has
    a single mask, and the whole batch is one run.

    Attributes:
        gather_index: (B*nW*N,) row of the source for every window slot.
            With ``zero_row`` the source is the flattened map with one zero
            row prepended (row 0, read by padding slots), else the map itself.
        scatter_index: (B*H*W,) window slot of every token, in map order.
        window_masks: (nW, N, N) float32 shift mask of each window of one
            image, in plan order (the same for every image); None without
            shift.
        group_masks: (G, N, N) float32: the distinct masks.
        runs: (first window, windows, group) of each run of consecutive
            windows (over the whole batch) that share group_masks[group].
        zero_row: Whether padding slots exist (a zero row must be prepended).
        window_size: M.
    """
    gather_index: torch.Tensor
    scatter_index: torch.Tensor
    window_masks: Optional[torch.Tensor]
    group_masks: torch.Tensor
    runs: Tuple[Tuple[int, int, int], ...]
    zero_row: bool
    window_size: int

    def runs_within(self, start: int,
                    stop: int) -> Tuple[Tuple[int, int, int], ...]:
        """The runs clipped to windows [start, stop), counted from start."""
        clipped = []
        for first, count, group in self.runs:
            lo, hi = max(first, start), min(first + count, stop)
            if lo < hi:
                clipped.append((lo - start, hi - lo, group))
        return tuple(clipped)


def _mask_runs(group_of_window: torch.Tensor,
               batch: int) -> Tuple[Tuple[int, int, int], ...]:
    """Runs of equal group over ``batch`` images of sorted windows."""
    runs = []
    for group in group_of_window.tolist() * batch:
        if runs and runs[-1][2] == group:
            first, count, _ = runs[-1]
            runs[-1] = (first, count + 1, group)
        else:
            first = runs[-1][0] + runs[-1][1] if runs else 0
            runs.append((first, 1, group))
    return tuple(runs)


@lru_cache(maxsize=64)
def _window_plan(B: int, H: int, W: int, window_size: int, sh: int, sw: int,
                 device: torch.device) -> WindowPlan:
    M, L = window_size, H * W
    # Token ids 1..B*L; pad_to_window fills padding with 0, the zero row.
    ids = torch.arange(1, B * L + 1).view(B, H, W, 1)
    ids = cyclic_shift(pad_to_window(ids, M), (-sh, -sw))  # B, Hp, Wp, 1
    Hp, Wp = ids.shape[1], ids.shape[2]
    windows = window_partition(ids, M)[..., 0]  # B*nW, N
    nW, N = Hp // M * (Wp // M), M * M

    masks = shift_window_mask((Hp, Wp), M, (sh, sw))  # nW, N, N
    group_masks, group_of_window = torch.unique(
        masks, dim=0, return_inverse=True)  # G, N, N and nW
    order = torch.argsort(group_of_window, stable=True)  # nW
    windows = windows.view(B, nW, N)[:, order]  # B, nW, N

    zero_row = Hp != H or Wp != W
    gather = windows.flatten()  # B*nW*N
    slots = torch.arange(gather.numel())
    is_token = gather > 0
    scatter = torch.empty(B * L, dtype=torch.long)
    scatter[gather[is_token] - 1] = slots[is_token]  # B*L
    if not zero_row:
        gather = gather - 1
    window_masks = masks[order].to(device) if (sh, sw) != (0, 0) else None
    return WindowPlan(
        gather.to(device), scatter.to(device), window_masks,
        group_masks.to(device), _mask_runs(group_of_window[order], B),
        zero_row, M)


def window_plan(
    batch: int,
    hw: Tuple[int, int],
    window_size: int,
    shift: Tuple[int, int],
    device: torch.device = torch.device('cpu')
) -> WindowPlan:
    """The :class:`WindowPlan` of a (batch, H, W) map, cached per size.

    Equivalent to ``window_partition(cyclic_shift(pad_to_window(x), -shift))``
    followed by :func:`window_reverse`, the inverse shift and cropping, with
    each image's windows reordered by shift mask (see :class:`WindowPlan`).
    """
    return _window_plan(batch, hw[0], hw[1], window_size, shift[0], shift[1],
                        torch.device(device))

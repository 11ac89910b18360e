"""Figures of the shifted-window scheme, drawn from the backbone's helpers.

Writes four PNGs into --out-dir:
  window_partition.png         windows of an H x W map (padded to window
                               multiples), as ``window_partition`` cuts it
  shift_regions.png            the map after the cyclic shift: regions 0..8
                               (``shift_window_regions``) under the windows
  shift_masks.png              the N x N attention mask of every window
                               (``shift_window_mask``): dark = masked (-100)
  relative_position_index.png  ``relative_position_index`` of one window

    python tools/analysis/visualize_windows.py --size 8 8 --window-size 4
"""
import argparse
import os
from typing import List

import numpy as np
import torch
from matplotlib.figure import Figure

from swin_mm.models.layers import (padded_size, relative_position_index,
                                   shift_window_mask, shift_window_regions,
                                   window_partition)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog='\n'.join(__doc__.splitlines()[2:]))
    parser.add_argument(
        '--size',
        type=int,
        nargs=2,
        default=(8, 8),
        metavar=('H', 'W'),
        help='feature-map size (tokens)')
    parser.add_argument('--window-size', type=int, default=4)
    parser.add_argument(
        '--shift', type=int, help='cyclic shift (default: window size // 2)')
    parser.add_argument('--out-dir', default='work_dirs/windows')
    args = parser.parse_args(argv)
    H, W = args.size
    M = args.window_size
    if min(H, W) < 1:
        parser.error(f'--size must be positive, got {H} {W}')
    if M < 2:
        parser.error(f'--window-size must be >= 2 for a shift to exist, '
                     f'got {M}')
    if M > min(H, W):
        parser.error(
            f'--window-size {M} is larger than the {H}x{W} map: it would '
            f'be one padded window with nothing to shift across; choose a '
            f'window of at most {min(H, W)}')
    if args.shift is None:
        args.shift = M // 2
    if not 0 < args.shift < M:
        parser.error(f'--shift must be in 1..{M - 1} (0 < shift < window '
                     f'size), got {args.shift}')
    return args


def _draw_windows(ax, Hp: int, Wp: int, M: int) -> None:
    for y in range(0, Hp + 1, M):
        ax.axhline(y - 0.5, color='black', linewidth=2.5)
    for x in range(0, Wp + 1, M):
        ax.axvline(x - 0.5, color='black', linewidth=2.5)
    ax.set_xticks(range(Wp))
    ax.set_yticks(range(Hp))
    ax.tick_params(labelsize=7)


def plot_window_partition(H: int, W: int, M: int, path: str) -> None:
    Hp, Wp = padded_size(H, M), padded_size(W, M)
    ids = torch.arange(Hp * Wp).view(1, Hp, Wp, 1)
    windows = window_partition(ids, M)[..., 0]  # nW, M*M
    label = torch.empty(Hp * Wp, dtype=torch.long)
    for w, tokens in enumerate(windows):
        label[tokens] = w
    label = label.view(Hp, Wp).numpy().astype(float)
    fig = Figure(figsize=(6, 6 * Hp / Wp))
    ax = fig.subplots()
    ax.imshow(label, cmap='tab20', interpolation='nearest')
    padding = np.zeros((Hp, Wp, 4))
    padding[H:, :, 3] = padding[:, W:, 3] = 0.6
    ax.imshow(padding, interpolation='nearest')
    for w, tokens in enumerate(windows):
        y, x = divmod(int(tokens[0]), Wp)
        ax.text(
            x + (M - 1) / 2,
            y + (M - 1) / 2,
            f'window {w}',
            ha='center',
            va='center',
            fontsize=9,
            weight='bold')
    _draw_windows(ax, Hp, Wp, M)
    ax.set_title(f'W-MSA: {H}x{W} map, {M}x{M} windows '
                 f'(grey: padding to {Hp}x{Wp})')
    fig.savefig(path, dpi=100, bbox_inches='tight')


def plot_shift_regions(H: int, W: int, M: int, s: int, path: str) -> None:
    Hp, Wp = padded_size(H, M), padded_size(W, M)
    regions = shift_window_regions((Hp, Wp), M, (s, s)).numpy()
    fig = Figure(figsize=(6, 6 * Hp / Wp))
    ax = fig.subplots()
    ax.imshow(regions, cmap='Pastel1', vmin=0, vmax=8, interpolation='nearest')
    for r in np.unique(regions):
        ys, xs = np.nonzero(regions == r)
        ax.text(
            xs.mean(),
            ys.mean(),
            str(r),
            ha='center',
            va='center',
            fontsize=16,
            weight='bold')
    _draw_windows(ax, Hp, Wp, M)
    ax.set_title(f'SW-MSA: after the cyclic shift by ({-s}, {-s}), '
                 f'regions 0..8 under {M}x{M} windows')
    fig.savefig(path, dpi=100, bbox_inches='tight')


def plot_shift_masks(H: int, W: int, M: int, s: int, path: str) -> None:
    Hp, Wp = padded_size(H, M), padded_size(W, M)
    masks = shift_window_mask((Hp, Wp), M, (s, s)).numpy()  # nW, N, N
    rows, cols = Hp // M, Wp // M
    fig = Figure(figsize=(2.6 * cols, 2.6 * rows))
    axes = fig.subplots(rows, cols, squeeze=False)
    for w, ax in enumerate(axes.flat):
        ax.imshow(
            masks[w],
            cmap='gray',
            vmin=masks.min(),
            vmax=0,
            interpolation='nearest')
        ax.set_title(f'window {w}', fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f'SW-MSA masks ({M * M}x{M * M} per window): white 0, '
                 'black -100 (tokens of different regions)')
    fig.savefig(path, dpi=100, bbox_inches='tight')


def plot_relative_position_index(M: int, path: str) -> None:
    index = relative_position_index(M).numpy()
    fig = Figure(figsize=(6, 5))
    ax = fig.subplots()
    image = ax.imshow(index, cmap='viridis', interpolation='nearest')
    fig.colorbar(image, ax=ax, label='row of the bias table')
    if M <= 4:
        for i in range(M * M):
            for j in range(M * M):
                ax.text(
                    j,
                    i,
                    str(index[i, j]),
                    ha='center',
                    va='center',
                    fontsize=6,
                    color='white')
    ax.set_title(f'relative position index, {M}x{M} window:\n'
                 f'(dy + {M - 1}) * {2 * M - 1} + (dx + {M - 1}), '
                 f'{(2 * M - 1)**2} table rows')
    ax.set_xlabel('key token j')
    ax.set_ylabel('query token i')
    fig.savefig(path, dpi=100, bbox_inches='tight')


def main(argv=None) -> List[str]:
    args = parse_args(argv)
    os.makedirs(args.out_dir, exist_ok=True)
    (H, W), M, s = args.size, args.window_size, args.shift
    paths = [
        os.path.join(args.out_dir, name)
        for name in ('window_partition.png', 'shift_regions.png',
                     'shift_masks.png', 'relative_position_index.png')
    ]
    plot_window_partition(H, W, M, paths[0])
    plot_shift_regions(H, W, M, s, paths[1])
    plot_shift_masks(H, W, M, s, paths[2])
    plot_relative_position_index(M, paths[3])
    for path in paths:
        print(f'wrote {path}')
    return paths

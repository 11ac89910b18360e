"""Params and FLOPs of a swin_mm backbone, and W-MSA vs global MSA per stage.

FLOPs are multiply-adds, as the paper counts them, walked from the model's
own modules (``swin_mm.analysis.complexity``); ``--cross-check`` also counts
the dense and attention products with MMEngine's jit-traced FlopAnalyzer
and prints the difference.

    python tools/analysis/get_flops.py --arch tiny
    python tools/analysis/get_flops.py --arch base --size 384 384 \\
        --window-size 12 --cross-check
    python tools/analysis/get_flops.py --v2 --size 256 256 --window-size 16
    python tools/analysis/get_flops.py --paper-table
"""
import argparse
import copy
import math
from typing import List, Sequence, Tuple

import torch

from swin_mm.analysis.complexity import (PAPER_TABLE, PAPER_TABLE_V2,
                                         count_macs, count_macs_by_kind,
                                         msa_macs, paper_params,
                                         window_msa_macs)
from swin_mm.models import SwinTransformer, SwinTransformerV2
from swin_mm.models.layers import padded_size


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog='\n'.join(__doc__.splitlines()[2:]))
    parser.add_argument(
        '--arch', default='tiny', choices=sorted(SwinTransformer.arch_zoo))
    parser.add_argument(
        '--size',
        type=int,
        nargs=2,
        default=(224, 224),
        metavar=('H', 'W'),
        help='input image size')
    parser.add_argument(
        '--v2',
        action='store_true',
        help='Swin Transformer V2 (SwinTransformerV2)')
    parser.add_argument('--window-size', type=int, default=7)
    parser.add_argument(
        '--detection-size',
        type=int,
        nargs=2,
        default=(800, 1333),
        metavar=('H', 'W'),
        help='second input size for the MSA vs W-MSA table')
    parser.add_argument(
        '--cross-check',
        action='store_true',
        help="also count with MMEngine's FlopAnalyzer")
    parser.add_argument(
        '--paper-table',
        action='store_true',
        help="measure every model of the paper's table")
    args = parser.parse_args(argv)
    for name in ('size', 'detection_size'):
        if min(getattr(args, name)) < 1:
            parser.error(f'--{name.replace("_", "-")} must be positive, '
                         f'got {getattr(args, name)}')
    if args.window_size < 1:
        parser.error(f'--window-size must be >= 1, got {args.window_size}')
    return args


def build(args: argparse.Namespace) -> SwinTransformer:
    cls = SwinTransformerV2 if args.v2 else SwinTransformer
    return cls(
        args.arch,
        window_size=args.window_size,
        pretrain_img_size=tuple(args.size))


def stage_maps(model: SwinTransformer,
               input_hw: Sequence[int]) -> List[Tuple[int, int, int]]:
    """(h, w, C) of each stage's map for an input size."""
    P = model.patch_embed.patch_size
    h, w = math.ceil(input_hw[0] / P), math.ceil(input_hw[1] / P)
    maps = []
    for i, C in enumerate(model.num_features):
        if i > 0:
            h, w = math.ceil(h / 2), math.ceil(w / 2)
        maps.append((h, w, C))
    return maps


def msa_table(model: SwinTransformer, input_hw: Sequence[int]) -> str:
    """Omega(MSA) and Omega(W-MSA) of one block in every stage."""
    lines = [
        f'One block, input {input_hw[0]}x{input_hw[1]} (Omega in G '
        'multiply-adds; map padded to window multiples):',
        'stage      h x w     C   M   Omega(MSA)  Omega(W-MSA)  '
        'MSA/W-MSA'
    ]
    for i, (h, w, C) in enumerate(stage_maps(model, input_hw)):
        M, _ = model.stages[i].blocks[0].attn.window_and_shift((h, w))
        hp, wp = padded_size(h, M), padded_size(w, M)
        msa = msa_macs(h, w, C)
        wmsa = window_msa_macs(hp, wp, C, M)
        lines.append(f'{i + 1:>5}  {h:>4} x {w:<4}  {C:>4}  {M:>2}  '
                     f'{msa / 1e9:>11.3f}  {wmsa / 1e9:>12.3f}  '
                     f'{msa / wmsa:>9.1f}')
    return '\n'.join(lines)


#: FlopAnalyzer's names of the operators that are matrix products.
PRODUCT_OPS = ('conv', 'linear', 'matmul', 'bmm', 'addmm', 'einsum')


def traced_macs(model: SwinTransformer, input_hw: Sequence[int]) -> int:
    """Dense + attention products counted by MMEngine's FlopAnalyzer on the
    reference path (explicit matmuls), norms left out."""
    from mmengine.analysis import FlopAnalyzer
    reference = copy.deepcopy(model).eval()
    reference.set_fast_path(False)  # explicit products the tracer can see
    analyzer = FlopAnalyzer(reference, torch.zeros(1, 3, *input_hw))
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    return sum(macs for op, macs in analyzer.by_operator().items()
               if op in PRODUCT_OPS)


def describe(args: argparse.Namespace) -> str:
    model = build(args)
    params = sum(p.numel() for p in model.parameters())
    parts = count_macs(model, args.size)
    total = sum(parts.values())
    lines = [
        f"Swin{'V2' if args.v2 else ''}-{args.arch[0].upper()} "
        f'(window {args.window_size}), input '
        f'{args.size[0]}x{args.size[1]}',
        f'params: backbone {params / 1e6:.2f} M; as the paper counts '
        f'(final norm + 1000-class head) {paper_params(model) / 1e6:.2f} M',
        f'FLOPs: {total / 1e9:.3f} G multiply-adds'
    ]
    lines += [
        f'  {name:<16} {macs / 1e9:8.3f} G' for name, macs in parts.items()
    ]
    kinds = count_macs_by_kind(model, args.size)
    lines.append('  by kind: ' + ', '.join(f'{kind} {macs / 1e9:.3f} G'
                                           for kind, macs in kinds.items()))
    if args.cross_check:
        traced = traced_macs(model, args.size)
        counted = kinds['dense'] + kinds['attention']
        lines.append(
            f"cross-check (MMEngine FlopAnalyzer, dense + attention): "
            f"{traced / 1e9:.3f} G vs {counted / 1e9:.3f} G counted, "
            f"difference {100 * (traced / counted - 1):+.3f}%")
    lines += [
        '',
        msa_table(model, args.size), '',
        msa_table(model, args.detection_size)
    ]
    return '\n'.join(lines)


def paper_table() -> str:
    lines = [
        '| model | input | window | params (M) | paper | diff | '
        'FLOPs (G) | paper | diff |', '|' + '---|' * 9
    ]
    rows = [(SwinTransformer, 'Swin', row) for row in PAPER_TABLE]
    rows += [(SwinTransformerV2, 'SwinV2', row) for row in PAPER_TABLE_V2]
    for cls, name, (arch, size, window, params_m, gmacs) in rows:
        model = cls(arch, window_size=window, pretrain_img_size=size)
        params = paper_params(model) / 1e6
        flops = sum(count_macs(model, (size, size)).values()) / 1e9
        lines.append(
            f'| {name}-{arch[0].upper()} | {size} | {window} | {params:.2f} | '
            f'{params_m} | {100 * (params / params_m - 1):+.1f}% | '
            f'{flops:.2f} | {gmacs} | {100 * (flops / gmacs - 1):+.1f}% |')
    return '\n'.join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    print(paper_table() if args.paper_table else describe(args))
    return 0

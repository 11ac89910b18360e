"""Benchmark swin_mm's Swin against MMDetection's SwinTransformer.

Same weights, one process, rounds interleaved (see
``benchmarks/swin_vs_mmdet.py``). Prints images per second of both, the
speed-up, the largest output difference, peak memory and the achieved
GFLOP/s as a share of swin_mm's dense product measured in the same rounds.
Run from the repository root:

    python -m benchmarks.benchmark                      # T, S, B
    python -m benchmarks.benchmark --archs tiny --infer 224x224x8 \\
        --train 512x512x2 --rounds 7 --cp-memory
    python -m benchmarks.benchmark --archs tiny --hooked   # with hooks
"""
import argparse
import statistics
import sys

import torch

from benchmarks import parser_from_doc
from benchmarks.swin_vs_mmdet import (LEGEND, Case, build_pair,
                                      describe_machine, format_results,
                                      parse_case_size, run_case,
                                      saved_activation_mib)
from swin_mm.models import SwinTransformer
from swin_mm.models.backbones.swin_transformer import WindowAttention


def parse_args(argv=None) -> argparse.Namespace:
    parser = parser_from_doc(__doc__)
    parser.add_argument(
        '--archs',
        nargs='+',
        default=['tiny', 'small', 'base'],
        choices=sorted(SwinTransformer.arch_zoo))
    parser.add_argument(
        '--infer',
        nargs='*',
        default=['224x224x8', '800x1344x1'],
        metavar='HxWxB',
        help='inference cases')
    parser.add_argument(
        '--train',
        nargs='*',
        default=['512x512x2'],
        metavar='HxWxB',
        help='training-step cases')
    parser.add_argument(
        '--rounds',
        type=int,
        default=5,
        help='timed rounds per case (median reported)')
    parser.add_argument('--device', default='cpu', help="'cpu' or 'cuda'")
    parser.add_argument(
        '--threads', type=int, help='torch threads (default: torch default)')
    parser.add_argument(
        '--no-memory', action='store_true', help='skip the peak-memory runs')
    parser.add_argument(
        '--cp-memory',
        action='store_true',
        help='also count activations saved for backward with '
        'and without with_cp at each --train size')
    parser.add_argument(
        '--per-round',
        action='store_true',
        help='also print every round\'s times')
    parser.add_argument(
        '--hooked',
        action='store_true',
        help="a no-op forward hook on every attention module "
        "of swin_mm's model (hooked blocks run the reference "
        'path)')
    parser.add_argument(
        '--markdown',
        action='store_true',
        help="print markdown tables (for the docs)")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error(f'--rounds must be >= 1, got {args.rounds}')
    try:
        args.infer = [parse_case_size(s) for s in args.infer]
        args.train = [parse_case_size(s) for s in args.train]
    except ValueError as err:
        parser.error(str(err))
    if args.device.startswith('cuda') and not torch.cuda.is_available():
        parser.error('--device cuda asked for, but CUDA is not available')
    return args


def cp_memory_table(args: argparse.Namespace) -> str:
    lines = [
        'arch  input  model  saved MiB (with_cp=False)  '
        'saved MiB (with_cp=True)  ratio'
    ]
    for arch in args.archs:
        for size, batch in args.train:
            x = torch.randn(batch, 3, *size, device=args.device)
            saved = {'mmdet': [], 'swin_mm': []}
            for with_cp in (False, True):
                models = build_pair(arch, args.device, with_cp=with_cp)
                for name, model in zip(saved, models):
                    saved[name].append(saved_activation_mib(model, x))
            for name, (plain, ckpt) in saved.items():
                lines.append(f'{arch}  {batch}x{size[0]}x{size[1]}  {name}  '
                             f'{plain:.0f}  {ckpt:.0f}  1/{plain / ckpt:.1f}')
    return '\n'.join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    results = []
    for arch in args.archs:
        theirs, ours = build_pair(arch, args.device)
        if args.hooked:
            for module in ours.modules():
                if isinstance(module, WindowAttention):
                    module.register_forward_hook(lambda *args: None)
        models = {'mmdet': theirs, 'swin_mm': ours}
        cases = ([Case(arch, 'infer', s, b) for s, b in args.infer] +
                 [Case(arch, 'train', s, b) for s, b in args.train])
        for case in cases:
            result = run_case(
                case,
                models,
                args.rounds,
                args.device,
                measure_memory=not args.no_memory)
            results.append(result)
            print(
                f'done: {arch} {case.mode} {case.batch}x{case.size[0]}x'
                f'{case.size[1]}: {result.ratio:.2f}x',
                flush=True)
            if args.per_round:
                for name, times in result.times.items():
                    print(f'  {name} s/step per round: ' +
                          ' '.join(f'{t:.3f}' for t in times))
    rates = [
        statistics.median(getattr(r, name)
                          for r in results) if results else None
        for name in ('matmul_gflops', 'mm_gflops')
    ]
    print()
    print(describe_machine(args.device, *rates))
    print(format_results(results, markdown=args.markdown))
    print(LEGEND)
    if args.cp_memory:
        print()
        print('Activations saved for backward (parameters excluded):')
        print(cp_memory_table(args))
    return 0


if __name__ == '__main__':
    sys.exit(main())

"""What a new input size costs: swin_mm against MMDetection's Swin.

1. First forward at a size never seen: (first forward - second forward at
   that size), inference, batch 1, median over ``--new-sizes``; for swin_mm
   that is building the window plans of every block.
2. Multi-scale training: one training step at each of K distinct sizes
   (``--train-sizes``, as a multi-scale recipe gives), each model's total,
   steps interleaved, and the speed-up.

Same weights, one process. Run from the repository root:

    python -m benchmarks.new_sizes --arch tiny
"""
import argparse
import statistics
import time
from typing import Callable, List, Sequence, Tuple

import torch

from benchmarks import parser_from_doc
from benchmarks.swin_vs_mmdet import (build_pair, describe_machine, make_step,
                                      parse_case_size)

NEW_SIZES = ('800x1333', '800x1312', '768x1333', '736x1312', '704x1280')
TRAIN_SIZES = ('480x640x1', '544x704x1', '608x800x1', '672x896x1')


def parse_args(argv=None) -> argparse.Namespace:
    parser = parser_from_doc(__doc__)
    parser.add_argument('--arch', default='tiny')
    parser.add_argument('--new-sizes', nargs='*', default=list(NEW_SIZES))
    parser.add_argument('--train-sizes', nargs='*', default=list(TRAIN_SIZES))
    parser.add_argument('--threads', type=int)
    return parser.parse_args(argv)


def seconds(step: Callable[[], object]) -> float:
    start = time.perf_counter()
    step()
    return time.perf_counter() - start


def first_forward_ms(models: Sequence[torch.nn.Module],
                     sizes: Sequence[Tuple[int, int]]) -> List[float]:
    """Median (first - second forward) at each new size, per model, ms."""
    extra = [[] for _ in models]
    for h, w in sizes:
        x = torch.randn(1, 3, h, w)
        for i, model in enumerate(models):
            step = make_step(model, 'infer', x)
            first = seconds(step)
            extra[i].append(1000 * (first - seconds(step)))
    return [statistics.median(e) for e in extra]


def multiscale_training_s(
        models: Sequence[torch.nn.Module],
        cases: Sequence[Tuple[Tuple[int, int], int]]) -> List[float]:
    """Total seconds of one training step at each size, per model."""
    totals = [0.0 for _ in models]
    for (h, w), batch in cases:
        x = torch.randn(batch, 3, h, w)
        for i, model in enumerate(models):
            totals[i] += seconds(make_step(model, 'train', x))
    return totals


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    theirs, ours = build_pair(args.arch)
    # Warm both at an unrelated size (allocator, kernels, lazy imports).
    make_step(theirs, 'infer', torch.randn(1, 3, 224, 224))()
    make_step(ours, 'infer', torch.randn(1, 3, 224, 224))()
    print(describe_machine('cpu', None))
    sizes = [parse_case_size(f'{s}x1')[0] for s in args.new_sizes]
    mmdet_ms, ours_ms = first_forward_ms((theirs, ours), sizes)
    print(f'{args.arch}: first forward at a new size, extra over the second '
          f'(median of {len(sizes)} sizes): mmdet {mmdet_ms:.1f} ms, '
          f'swin_mm {ours_ms:.1f} ms')
    if args.train_sizes:
        cases = [parse_case_size(s) for s in args.train_sizes]
        mmdet_s, ours_s = multiscale_training_s((theirs, ours), cases)
        print(f'{args.arch}: one training step at each of {len(cases)} '
              f'sizes: mmdet {mmdet_s:.2f} s, swin_mm {ours_s:.2f} s, '
              f'speed-up {mmdet_s / ours_s:.2f}x')


if __name__ == '__main__':
    main()

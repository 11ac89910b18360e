"""swin_mm against MMDetection's Swin on a GPU: CUDA events, medians.

Same weights, one process, rounds interleaved (the order alternating), as
in ``benchmarks/swin_vs_mmdet.py``; swin_mm runs with ``always_shift=True``
(what MMDetection computes), so every row also reports the largest output
difference. Cases, sized to finish in about two minutes on one GPU:

- inference at 224x224 batch 64 (the paper's throughput setting) and at
  800x1333 batch 2, fp32 and fp16 autocast, for each arch;
- a training step of the backbone (forward, a loss on its four maps,
  backward) at 2 x 800x1333 under fp16 autocast, with peak memory
  (``torch.cuda.max_memory_allocated`` above what was held before) with
  and without ``with_cp``;
- multi-scale training: one step at each of K distinct sizes (the shorter
  side from 480 to 800, as the ``ms-crop`` configs draw), the sequence
  timed as one.

Run from the repository root (``tools/gpu_check.sh`` runs it on the GPU
machine)::

    python -m benchmarks.cuda --json bench.json
    python -m benchmarks.cuda --device cpu --quick   # the CPU path, tiny
"""
import argparse
import json
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn

from benchmarks import parser_from_doc
from benchmarks.swin_vs_mmdet import build_pair, peak_memory_mib
from swin_mm.models import SwinTransformer

Size = Tuple[int, int]
PRECISIONS = {
    'fp32': None,
    'fp16': torch.float16,
    'bf16': torch.bfloat16,
}


@dataclass(frozen=True)
class Case:
    """One row: what runs, at which sizes, in which precision."""
    arch: str
    mode: str  # 'infer', 'train' or 'multiscale' (train steps over sizes)
    sizes: Tuple[Size, ...]
    batch: int
    precision: str  # a key of PRECISIONS
    with_cp: bool = False

    @property
    def label(self) -> str:
        size = f'{self.sizes[0][0]}x{self.sizes[0][1]}' \
            if len(self.sizes) == 1 else f'{len(self.sizes)} sizes'
        return f'{self.batch}x{size}'


@dataclass
class Row:
    """Measured figures of one :class:`Case` (seconds per step)."""
    case: Case
    times: Dict[str, List[float]]  # per model, per timed round
    max_abs_diff: float
    peak_mib: Dict[str, float] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        """Median over rounds of MMDetection's time / swin_mm's."""
        return statistics.median(
            a / b for a, b in zip(self.times['mmdet'], self.times['swin_mm']))

    def images_per_second(self, model: str) -> float:
        images = self.case.batch * len(self.case.sizes)
        return images / statistics.median(self.times[model])


class Timer:
    """Seconds of one call: CUDA events on a GPU (device time, no host
    overhead between kernels hidden), ``perf_counter`` on the CPU."""

    def __init__(self, device: str):
        self.cuda = device.startswith('cuda')

    def __call__(self, fn: Callable[[], object]) -> float:
        if not self.cuda:
            start = time.perf_counter()
            fn()
            return time.perf_counter() - start
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1e3


def make_step(model: nn.Module, case: Case,
              inputs: Sequence[torch.Tensor]) -> Callable[[], list]:
    """The step of ``case`` over ``inputs`` (one per size): inference
    forwards, or training steps (forward, loss, backward)."""
    dtype = PRECISIONS[case.precision]
    device_type = inputs[0].device.type
    train = case.mode != 'infer'
    model.train(train)

    def step() -> list:
        outs = []
        for x in inputs:
            with torch.autocast(device_type, dtype=dtype,
                                enabled=dtype is not None), \
                    torch.set_grad_enabled(train):
                feats = model(x)
                if train:
                    model.zero_grad(set_to_none=True)
                    sum(f.float().mean() for f in feats).backward()
            outs.append([f.detach() for f in feats])
        return outs

    return step


def max_abs_diff(a: list, b: list) -> float:
    """Largest difference between the two models' outputs."""
    return max((x.float() - y.float()).abs().max().item()
               for xs, ys in zip(a, b) for x, y in zip(xs, ys))


def run_case(case: Case,
             device: str,
             rounds: int,
             warmup: int,
             memory: bool = False) -> Row:
    """Time ``case`` for both models, rounds interleaved."""
    models = dict(
        zip(('mmdet', 'swin_mm'),
            build_pair(case.arch, device, with_cp=case.with_cp)))
    gen = torch.Generator().manual_seed(1)
    inputs = [
        torch.randn(case.batch, 3, *size, generator=gen).to(device)
        for size in case.sizes
    ]
    steps = {name: make_step(m, case, inputs) for name, m in models.items()}
    outs = {name: step() for name, step in steps.items()}
    diff = max_abs_diff(outs['mmdet'], outs['swin_mm'])
    del outs
    for _ in range(warmup):
        for step in steps.values():
            step()
    timer = Timer(device)
    times: Dict[str, List[float]] = {name: [] for name in steps}
    for r in range(rounds):
        order = list(steps.items())
        for name, step in order if r % 2 == 0 else order[::-1]:
            times[name].append(timer(step))
    row = Row(case, times, diff)
    if memory:
        row.peak_mib = {
            name: peak_memory_mib(step, device)
            for name, step in steps.items()
        }
    del steps, models, inputs
    if device.startswith('cuda'):
        torch.cuda.empty_cache()
    return row


def multiscale_sizes(k: int,
                     short: Tuple[int, int] = (480, 800),
                     long: int = 1333) -> Tuple[Size, ...]:
    """K distinct (H, W) sizes, the shorter side evenly from ``short``."""
    lo, hi = short
    if k == 1:
        return ((hi, long), )
    return tuple((lo + round(i * (hi - lo) / (k - 1)), long) for i in range(k))


def default_cases(archs: Sequence[str], quick: bool) -> List[Case]:
    """The cases of the module doc; ``quick``: tiny sizes and bf16 (the CPU
    path, to check the code runs)."""
    if quick:
        infer = [((64, 64), 2), ((80, 112), 1)]
        train_size, k_sizes = (64, 96), multiscale_sizes(3, (48, 80), 96)
        half = 'bf16'
    else:
        infer = [((224, 224), 64), ((800, 1333), 2)]
        train_size, k_sizes = (800, 1333), multiscale_sizes(6)
        half = 'fp16'
    cases = [
        Case(arch, 'infer', (size, ), batch, precision) for arch in archs
        for size, batch in infer for precision in ('fp32', half)
    ]
    arch = archs[0]
    cases += [
        Case(arch, 'train', (train_size, ), 2, half),
        Case(arch, 'train', (train_size, ), 2, half, with_cp=True),
        Case(arch, 'multiscale', k_sizes, 2, half),
    ]
    return cases


HEADER = [
    'arch', 'mode', 'input', 'precision', 'mmdet img/s', 'swin_mm img/s',
    'speed-up', 'max abs diff', 'peak MiB mmdet', 'peak MiB swin_mm'
]


def table(rows: Sequence[Row]) -> str:
    """A markdown table, one line per row."""
    lines = ['| ' + ' | '.join(HEADER) + ' |', '|' + '---|' * len(HEADER)]
    for r in rows:
        c = r.case
        mode = c.mode + (' (with_cp)' if c.with_cp else '')
        peaks = [
            f"{r.peak_mib[m]:.0f}" if m in r.peak_mib else '-'
            for m in ('mmdet', 'swin_mm')
        ]
        cells = [
            c.arch, mode, c.label, c.precision,
            f"{r.images_per_second('mmdet'):.1f}",
            f"{r.images_per_second('swin_mm'):.1f}", f'{r.ratio:.2f}x',
            f'{r.max_abs_diff:.1e}', *peaks
        ]
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def describe(device: str) -> Dict[str, str]:
    """The device, torch and the settings that change fp32 numbers."""
    info = dict(torch=torch.__version__, device=device)
    if device.startswith('cuda'):
        info.update(
            gpu=torch.cuda.get_device_name(),
            cuda=str(torch.version.cuda),
            tf32_matmul=str(torch.backends.cuda.matmul.allow_tf32),
            tf32_cudnn=str(torch.backends.cudnn.allow_tf32))
    return info


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = parser_from_doc(__doc__)
    parser.add_argument(
        '--archs',
        nargs='+',
        default=['tiny', 'small', 'base'],
        choices=sorted(SwinTransformer.arch_zoo),
        help='inference for each; training rows for the first')
    parser.add_argument('--device', default='cuda')
    parser.add_argument('--rounds', type=int, default=10)
    parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument(
        '--quick',
        action='store_true',
        help='tiny sizes, bf16: checks the code, measures nothing')
    parser.add_argument('--json', help='write the rows and setup here')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> List[Row]:
    args = parse_args(argv)
    if args.device.startswith('cuda') and not torch.cuda.is_available():
        sys.exit('benchmarks.cuda: --device cuda but no CUDA device is '
                 'available (use --device cpu --quick to check the code)')
    info = describe(args.device)
    print(', '.join(f'{k} {v}' for k, v in info.items()), flush=True)
    rows = []
    for case in default_cases(args.archs, args.quick):
        start = time.perf_counter()
        rows.append(
            run_case(
                case,
                args.device,
                args.rounds,
                args.warmup,
                memory=case.mode == 'train'
                and args.device.startswith('cuda')))
        print(
            f'{case.arch} {case.mode} {case.label} {case.precision}'
            f'{" with_cp" if case.with_cp else ""}: '
            f'{rows[-1].ratio:.2f}x '
            f'({time.perf_counter() - start:.1f} s)',
            flush=True)
    print(table(rows))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(
                dict(
                    setup=info,
                    rows=[
                        dict(
                            asdict(r),
                            ratio=r.ratio,
                            images_per_second={
                                m: r.images_per_second(m)
                                for m in r.times
                            }) for r in rows
                    ],
                    table=table(rows)),
                f,
                indent=1)
    return rows


if __name__ == '__main__':
    main()

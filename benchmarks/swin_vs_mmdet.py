"""swin_mm's Swin against MMDetection's, in one process, runs interleaved.

Both backbones get identical weights (MMDetection's, randomized and copied
into swin_mm through the OpenMMLab checkpoint layout). swin_mm runs with
``always_shift=True``, the option that computes exactly what MMDetection
computes, so every case also reports the largest output difference.

Each case times ``rounds`` rounds; a round runs both models (MMDetection's
first in even rounds, swin_mm's first in odd ones), then one dense fp32
2048^3 product as swin_mm's linear layers compute it
(:func:`swin_mm.models.fast_path.linear`: oneDNN on AVX-512 CPUs) and
one as ``torch.mm`` computes it (MKL on the CPU, what MMDetection's linear
layers run on): the machine's reference rates at that moment, so drift on a
shared machine hits all alike. Reported: median times, and the speed-up as
the median of the per-round ratios.

Peak memory is measured for each model in a fresh process, over its first
step: on CUDA the allocator's peak, on CPU the process's peak resident set
(VmHWM, reset through /proc/self/clear_refs) above the resident set before
the step (a fresh process, so memory the allocator kept from earlier runs
cannot hide it).
"""
import json
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn

from benchmarks.mmdet_swin import mmdet_swin_class
from swin_mm.analysis.complexity import count_macs_by_kind
from swin_mm.analysis.memory_plan import saved_activation_bytes
from swin_mm.models import SwinTransformer
from swin_mm.models.fast_path import linear

MATMUL_SIZE = 2048

#: The repository root, where ``python -m benchmarks...`` runs.
ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Case:
    """One benchmark case: an arch, a mode and a batch of images."""
    arch: str
    mode: str  # 'infer' or 'train'
    size: Tuple[int, int]
    batch: int


@dataclass
class Result:
    """Measured figures of one :class:`Case`."""
    case: Case
    times: Dict[str, List[float]]  # per round and model: 'mmdet', 'swin_mm'
    matmul_gflops: float  # median rate of swin_mm's dense product
    mm_gflops: float  # median rate of torch.mm (MMDetection's product)
    model_gflop: float  # GFLOP of one step of one model (same for both)
    dense_gflop: float  # the part of it in linear layers and the embedding
    max_abs_diff: float
    peak_mib: Dict[str, float] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        """swin_mm's speed-up over MMDetection (>1: swin_mm is faster): the
        median over rounds of each round's time ratio."""
        return statistics.median(
            a / b for a, b in zip(self.times['mmdet'], self.times['swin_mm']))

    @property
    def seconds(self) -> Dict[str, float]:
        """Median seconds per step of each model."""
        return {name: statistics.median(t) for name, t in self.times.items()}

    @property
    def dense_bound(self) -> float:
        """The largest speed-up over MMDetection possible if everything but
        the dense products took no time and they ran at the rate of
        swin_mm's 2048^3 product."""
        return self.seconds['mmdet'] / (self.dense_gflop / self.matmul_gflops)

    def images_per_second(self, model: str) -> float:
        return self.case.batch / self.seconds[model]

    def gflops(self, model: str) -> float:
        return self.model_gflop / self.seconds[model]


def parse_case_size(text: str) -> Tuple[Tuple[int, int], int]:
    """'800x1344x1' -> ((800, 1344), 1); 'HxW' alone means batch 1."""
    parts = text.lower().split('x')
    try:
        numbers = [int(p) for p in parts]
    except ValueError:
        numbers = []
    if len(numbers) not in (2, 3) or min(numbers) < 1:
        raise ValueError(
            f'expected HxW or HxWxBATCH with positive integers, got {text!r}')
    return (numbers[0], numbers[1]), numbers[2] if len(numbers) == 3 else 1


def _randomize(model: nn.Module, seed: int = 0) -> None:
    """Weights away from init so that every parameter affects the output."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            noise = torch.randn(param.shape, generator=gen)
            if 'norm' in name and name.endswith('weight'):
                param.copy_(1 + 0.2 * noise)
            else:
                param.copy_(0.05 * noise)


def build_pair(arch: str,
               device: str = 'cpu',
               **kwargs) -> Tuple[nn.Module, nn.Module]:
    """MMDetection's SwinTransformer and swin_mm's with the same weights.

    ``kwargs`` go to both (e.g. ``with_cp``); drop path is off so that
    training outputs can be compared too.
    """
    MMDetSwin = mmdet_swin_class()
    preset = SwinTransformer.arch_zoo[arch]
    theirs = MMDetSwin(
        embed_dims=preset['embed_dims'],
        depths=preset['depths'],
        num_heads=preset['num_heads'],
        drop_path_rate=0.,
        **kwargs)
    _randomize(theirs)
    ours = SwinTransformer(
        arch, drop_path_rate=0., always_shift=True, **kwargs)
    ours.load_state_dict(theirs.state_dict(), strict=True)
    return theirs.to(device), ours.to(device)


def _sync(device: str) -> None:
    if device.startswith('cuda'):
        torch.cuda.synchronize()


def make_step(model: nn.Module, mode: str,
              x: torch.Tensor) -> Callable[[], Sequence[torch.Tensor]]:
    """One inference forward, or one training step (forward + backward)."""
    if mode == 'infer':
        model.eval()

        def step():
            with torch.no_grad():
                return model(x)
    elif mode == 'train':
        model.train()

        def step():
            model.zero_grad(set_to_none=True)
            outs = model(x)
            sum(out.float().mean() for out in outs).backward()
            return [out.detach() for out in outs]
    else:
        raise ValueError(f"mode must be 'infer' or 'train', got {mode!r}")
    return step


def matmul_steps(device: str) -> Tuple[Dict[str, Callable[[], object]], float]:
    """Dense fp32 MATMUL_SIZE^3 products, by swin_mm's ``linear`` and by
    ``torch.mm``, and their GFLOP."""
    a = torch.randn(MATMUL_SIZE, MATMUL_SIZE, device=device)
    b = torch.randn(MATMUL_SIZE, MATMUL_SIZE, device=device)
    steps = dict(linear=lambda: linear(a, b), mm=lambda: torch.mm(a, b))
    return steps, 2 * MATMUL_SIZE**3 / 1e9


def _resident_kib() -> Tuple[int, int]:
    """(current, peak) resident set of this process in KiB (Linux)."""
    values = {}
    with open('/proc/self/status') as status:
        for line in status:
            key, _, rest = line.partition(':')
            if key in ('VmRSS', 'VmHWM'):
                values[key] = int(rest.split()[0])
    return values['VmRSS'], values['VmHWM']


def peak_memory_mib(step: Callable[[], object], device: str) -> float:
    """Peak memory of one call of ``step`` above what was held before."""
    if device.startswith('cuda'):
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        step()
        torch.cuda.synchronize()
        return (torch.cuda.max_memory_allocated() - before) / 2**20
    with open('/proc/self/clear_refs', 'w') as refs:
        refs.write('5')  # reset the peak resident set (VmHWM)
    before, _ = _resident_kib()
    step()
    _, peak = _resident_kib()
    return (peak - before) / 2**10


def peak_memory_in_fresh_process(case: Case,
                                 model: str,
                                 device: str = 'cpu') -> float:
    """:func:`peak_memory_mib` of one step of ``model`` ('mmdet' or
    'swin_mm') on ``case``, in a new Python process."""
    spec = json.dumps(
        dict(
            arch=case.arch,
            mode=case.mode,
            size=case.size,
            batch=case.batch,
            model=model,
            device=device))
    proc = subprocess.run(
        [sys.executable, '-m', 'benchmarks.swin_vs_mmdet', spec],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False)
    if proc.returncode != 0:
        raise RuntimeError(f'peak-memory run failed for {spec}:\n'
                           f'{proc.stderr[-2000:]}')
    return float(proc.stdout.strip().splitlines()[-1])


def run_case(case: Case,
             models: Dict[str, nn.Module],
             rounds: int,
             device: str = 'cpu',
             measure_memory: bool = True) -> Result:
    """Time ``case`` for both models, rounds interleaved (see module doc)."""
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(case.batch, 3, *case.size, generator=gen).to(device)
    steps = {
        name: make_step(model, case.mode, x)
        for name, model in models.items()
    }
    outputs = {name: step() for name, step in steps.items()}  # warm-up
    max_diff = max((a.float() - b.float()).abs().max().item()
                   for a, b in zip(outputs['mmdet'], outputs['swin_mm']))
    del outputs
    matmuls, matmul_gflop = matmul_steps(device)
    for matmul in matmuls.values():
        matmul()

    times: Dict[str, List[float]] = {name: [] for name in steps}
    rates: Dict[str, List[float]] = {name: [] for name in matmuls}
    for round_index in range(rounds):
        # Alternate which model goes first, so that neither always runs
        # right after the matmul (or first after a pause).
        order = list(steps.items())
        for name, step in order if round_index % 2 == 0 else order[::-1]:
            _sync(device)
            start = time.perf_counter()
            step()
            _sync(device)
            times[name].append(time.perf_counter() - start)
        for name, matmul in matmuls.items():
            _sync(device)
            start = time.perf_counter()
            matmul()
            _sync(device)
            rates[name].append(matmul_gflop / (time.perf_counter() - start))

    macs = count_macs_by_kind(models['swin_mm'], case.size)
    # A training step costs about three forwards (backward: two products
    # per forward product).
    to_gflop = 2 * case.batch * (3 if case.mode == 'train' else 1) / 1e9
    result = Result(
        case=case,
        times=times,
        matmul_gflops=statistics.median(rates['linear']),
        mm_gflops=statistics.median(rates['mm']),
        model_gflop=sum(macs.values()) * to_gflop,
        dense_gflop=macs['dense'] * to_gflop,
        max_abs_diff=max_diff)
    if measure_memory:
        result.peak_mib = {
            name: peak_memory_in_fresh_process(case, name, device)
            for name in steps
        }
    return result


def saved_activation_mib(model: nn.Module, x: torch.Tensor) -> float:
    """MiB of tensors saved for backward by one training forward (see
    :func:`swin_mm.analysis.memory_plan.saved_activation_bytes`)."""
    return saved_activation_bytes(model, x) / 2**20


def format_results(results: Sequence[Result], markdown: bool = False) -> str:
    """A table with one row per case."""
    header = [
        'arch', 'mode', 'input', 'mmdet img/s', 'swin_mm img/s', 'speed-up',
        'bound', 'max abs diff', 'peak MiB mmdet', 'peak MiB swin_mm',
        'swin_mm GFLOP/s', '% of product'
    ]
    rows = []
    for r in results:
        c = r.case
        rows.append([
            c.arch, c.mode, f'{c.batch}x{c.size[0]}x{c.size[1]}',
            f"{r.images_per_second('mmdet'):.2f}",
            f"{r.images_per_second('swin_mm'):.2f}", f'{r.ratio:.2f}x',
            f'{r.dense_bound:.2f}x', f'{r.max_abs_diff:.1e}',
            f"{r.peak_mib.get('mmdet', float('nan')):.0f}",
            f"{r.peak_mib.get('swin_mm', float('nan')):.0f}",
            f"{r.gflops('swin_mm'):.0f}",
            f"{100 * r.gflops('swin_mm') / r.matmul_gflops:.0f}%"
        ])
    if markdown:
        lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
        lines += ['| ' + ' | '.join(row) + ' |' for row in rows]
        return '\n'.join(lines)
    widths = [max(len(str(v)) for v in col) for col in zip(header, *rows)]
    return '\n'.join('  '.join(str(v).rjust(w) for v, w in zip(row, widths))
                     for row in [header] + rows)


LEGEND = (
    'speed-up: median over rounds of mmdet time / swin_mm time. '
    'bound: the speed-up swin_mm would reach if everything but its dense '
    'products (linear layers, patch-embedding conv) took no time and those '
    "ran at the rate of swin_mm's 2048^3 product. max abs diff: largest "
    'output difference '
    '(fp32). peak MiB: peak memory of one step above what was held before '
    '(fresh process). GFLOP/s: counted multiply-adds x 2 (x 3 for a '
    "training step) per second; % of the rate of swin_mm's 2048^3 fp32 "
    'product.')


def _cpu_name() -> str:
    """The CPU's model name (Linux), else the machine type."""
    import platform
    try:
        with open('/proc/cpuinfo') as cpuinfo:
            for line in cpuinfo:
                if line.startswith('model name'):
                    return f'{line.partition(":")[2].strip()} ' \
                        f'({platform.machine()})'
    except OSError:
        pass
    return platform.processor() or platform.machine()


#: cpuinfo flags of matrix instructions, and how the header names them.
MATRIX_FLAGS = (('amx_bf16', 'AMX-BF16'), ('amx_int8', 'AMX-INT8'),
                ('avx512_vnni', 'AVX512-VNNI'), ('avx512_bf16', 'AVX512-BF16'),
                ('avx_vnni', 'AVX-VNNI'))


def cpu_flags() -> set:
    """The CPU's feature flags (Linux ``/proc/cpuinfo``; empty elsewhere)."""
    try:
        with open('/proc/cpuinfo') as cpuinfo:
            for line in cpuinfo:
                if line.startswith('flags'):
                    return set(line.partition(':')[2].split())
    except OSError:
        pass
    return set()


def matrix_instructions(flags: Optional[set] = None) -> str:
    """The CPU's matrix instructions by name (AMX, VNNI, BF16), or 'none':
    low-precision speed depends on them, so every figure names them."""
    flags = cpu_flags() if flags is None else flags
    names = [name for flag, name in MATRIX_FLAGS if flag in flags]
    return ', '.join(names) or 'no AMX / VNNI / BF16 matrix instructions'


def describe_machine(device: str,
                     matmul_gflops: Optional[float],
                     mm_gflops: Optional[float] = None) -> str:
    """One line: device, threads, torch version, measured product rates
    (swin_mm's ``linear``, and ``torch.mm``)."""
    if device.startswith('cuda'):
        where = torch.cuda.get_device_name(torch.device(device))
    else:
        where = (f'CPU {_cpu_name()}, '
                 f'{torch.backends.cpu.get_cpu_capability()}, '
                 f'{matrix_instructions()}')
    line = (f'{where}, {torch.get_num_threads()} threads, '
            f'torch {torch.__version__}')
    if matmul_gflops is not None:
        line += (f', fp32 {MATMUL_SIZE}^3 product {matmul_gflops:.0f} '
                 "GFLOP/s as swin_mm's linear layers run it")
        if mm_gflops is not None:
            line += f', {mm_gflops:.0f} GFLOP/s by torch.mm'
        line += ' (medians over all rounds)'
    return line


def _peak_memory_main(spec: str) -> None:
    """Entry of :func:`peak_memory_in_fresh_process`: prints MiB."""
    args = json.loads(spec)
    case = Case(args['arch'], args['mode'], tuple(args['size']), args['batch'])
    theirs, ours = build_pair(case.arch, args['device'])
    model = theirs if args['model'] == 'mmdet' else ours
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(
        case.batch, 3, *case.size, generator=gen).to(args['device'])
    print(peak_memory_mib(make_step(model, case.mode, x), args['device']))


if __name__ == '__main__':
    _peak_memory_main(sys.argv[1])

"""The GPU check's report: machine, each CUDA test's result, the benchmark
table and the issue's targets, as markdown (``tools/gpu_check.sh``).

    python -m benchmarks.gpu_report --junit tests.xml --benchmark bench.json
"""
import json
import math
import platform
import subprocess
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import torch

from benchmarks import parser_from_doc


def machine_lines() -> List[str]:
    """GPU and driver (``nvidia-smi``), torch, CUDA, Python."""
    try:
        gpus = subprocess.run([
            'nvidia-smi', '--query-gpu=name,driver_version,memory.total',
            '--format=csv,noheader'
        ],
                              capture_output=True,
                              text=True,
                              timeout=30).stdout.strip() or 'none found'
    except (OSError, subprocess.TimeoutExpired):
        gpus = 'nvidia-smi not available'
    return [
        f'- GPU (name, driver, memory): {gpus}',
        f'- torch {torch.__version__}, CUDA {torch.version.cuda}, '
        f'Python {platform.python_version()}',
    ]


def read_test_results(junit: Path) -> List[Tuple[str, str, float, str]]:
    """(test, outcome, seconds, message) of each test case in a pytest
    JUnit XML file; outcome is passed, failed, error or skipped."""
    rows = []
    for case in ElementTree.parse(junit).getroot().iter('testcase'):
        outcome, message = 'passed', ''
        for tag in ('failure', 'error', 'skipped'):
            found = case.find(tag)
            if found is not None:
                outcome = 'failed' if tag == 'failure' else tag
                message = (found.get('message') or '').splitlines()[:1]
                message = message[0][:160] if message else ''
                break
        name = f"{case.get('classname', '').split('.')[-1]}::" \
            f"{case.get('name')}"
        rows.append((name, outcome, float(case.get('time', 0)), message))
    return rows


def tests_section(junit: Optional[Path], exit_code: Optional[int]) -> str:
    lines = [f'## CUDA tests (pytest exit code {exit_code})', '']
    if junit is None or not junit.exists():
        return '\n'.join(lines + ['No test results were written.'])
    rows = read_test_results(junit)
    counts: Dict[str, int] = {}
    for _, outcome, _, _ in rows:
        counts[outcome] = counts.get(outcome, 0) + 1
    lines += [
        ', '.join(f'{n} {outcome}' for outcome, n in sorted(counts.items())),
        '', '| test | result | s | message |', '|---|---|---|---|'
    ]
    lines += [
        f'| {name} | {outcome} | {seconds:.2f} | {message} |'
        for name, outcome, seconds, message in rows
    ]
    return '\n'.join(lines)


def _rows(bench: dict, **match) -> List[dict]:
    return [
        row for row in bench['rows']
        if all(row['case'][k] == v for k, v in match.items())
    ]


def target_lines(bench: dict) -> List[str]:
    """Each target of the GPU check, measured or missing."""
    lines = []

    def verdict(ok: bool) -> str:
        return 'met' if ok else 'NOT met'

    half = [r for r in bench['rows'] if r['case']['precision'] != 'fp32']
    for row in [r for r in half if r['case']['mode'] == 'infer']:
        c = row['case']
        lines.append(f"- inference >= 1.5x, {c['arch']} "
                     f"{c['batch']}x{c['sizes'][0][0]}x{c['sizes'][0][1]} "
                     f"{c['precision']}: {row['ratio']:.2f}x, "
                     f"{verdict(row['ratio'] >= 1.5)}")
    train = _rows(bench, mode='train')
    plain = [r for r in train if not r['case']['with_cp']]
    checkpointed = [r for r in train if r['case']['with_cp']]
    for row in plain:
        peak = row['peak_mib']
        memory = 'not measured (no CUDA)' if not peak \
            else (f"{peak['swin_mm']:.0f} vs {peak['mmdet']:.0f} MiB, "
                  f"{verdict(peak['swin_mm'] <= peak['mmdet'])}")
        lines.append(f"- training step >= 1.3x ({row['case']['arch']}): "
                     f"{row['ratio']:.2f}x, {verdict(row['ratio'] >= 1.3)}; "
                     f"peak memory <= MMDetection's: {memory}")
    if plain and checkpointed:
        full = plain[0]['peak_mib'].get('swin_mm', math.nan)
        cp = checkpointed[0]['peak_mib'].get('swin_mm', math.nan)
        lines.append('- with_cp memory <= 1/8 of without: ' +
                     ('not measured (no CUDA)' if math.isnan(full) else
                      f'{cp:.0f} vs {full:.0f} MiB ({cp / full:.3f}), '
                      f'{verdict(cp <= full / 8)}'))
    return lines or ['- no benchmark rows']


def benchmark_section(path: Optional[Path], exit_code: Optional[int]) -> str:
    lines = [f'## Benchmark (exit code {exit_code})', '']
    if path is None or not path.exists():
        return '\n'.join(lines + ['No benchmark results were written.'])
    bench = json.loads(path.read_text())
    setup = ', '.join(f'{k} {v}' for k, v in bench['setup'].items())
    if not bench['setup']['device'].startswith('cuda'):
        setup += (' (not a GPU: this run checks that the code works; its '
                  'figures measure nothing)')
    lines += [
        setup, '', bench['table'], '',
        'speed-up: median over interleaved rounds of MMDetection time / '
        'swin_mm time (CUDA events on a GPU); peak MiB: '
        'torch.cuda.max_memory_allocated over one step above what was held '
        'before.', '', '### Targets', ''
    ]
    return '\n'.join(lines + target_lines(bench))


def report(junit: Optional[Path], tests_exit: Optional[int],
           bench: Optional[Path], bench_exit: Optional[int]) -> str:
    return '\n\n'.join([
        '# swin_mm GPU check', '\n'.join(machine_lines()),
        tests_section(junit, tests_exit),
        benchmark_section(bench, bench_exit)
    ]) + '\n'


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = parser_from_doc(__doc__)
    parser.add_argument('--junit', type=Path)
    parser.add_argument('--tests-exit', type=int)
    parser.add_argument('--benchmark', type=Path)
    parser.add_argument('--benchmark-exit', type=int)
    args = parser.parse_args(argv)
    print(
        report(args.junit, args.tests_exit, args.benchmark,
               args.benchmark_exit),
        end='')


if __name__ == '__main__':
    main()

"""The GPU check's command, benchmark and report, checked on the CPU: the
CUDA tests skip (never pass) without a GPU, the benchmark's code runs its
CPU path, and the report says what ran and which targets were met."""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks.cuda import Timer, default_cases, multiscale_sizes
from benchmarks.gpu_report import read_test_results, report

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_gpu_check_on_cpu_skips_cuda_tests_and_reports_benchmark(tmp_path):
    env = dict(
        os.environ,
        DEVICE='cpu',
        PYTHON=sys.executable,
        SITE_DIR=str(tmp_path / 'site'),
        # The GPU machine's time limits are no guide to a loaded CPU.
        TESTS_TIMEOUT='400',
        BENCHMARK_TIMEOUT='400')
    proc = subprocess.run(
        ['tools/gpu_check.sh', str(tmp_path / 'out')],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = read_test_results(tmp_path / 'out' / 'tests.xml')
    assert results, 'no CUDA test was collected'
    assert {outcome for _, outcome, _, _ in results} == {'skipped'}
    assert {message for *_, message in results} == {'needs a CUDA device'}
    text = (tmp_path / 'out' / 'report.md').read_text()
    assert f'{len(results)} skipped' in text
    for case in default_cases(['tiny'], quick=True):
        mode = case.mode + (' (with_cp)' if case.with_cp else '')
        assert f'| tiny | {mode} | {case.label} | {case.precision} |' in text
    assert 'not a GPU' in text and '### Targets' in text


JUNIT = '''<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" tests="3">
<testcase classname="tests.cuda.test_fast_path" name="test_a" time="0.5"/>
<testcase classname="tests.cuda.test_fast_path" name="test_b" time="1.25">
<failure message="AssertionError: 2e-3 &gt; 1e-4&#10;more">trace</failure>
</testcase>
<testcase classname="tests.cuda.test_training" name="test_c" time="0">
<skipped message="needs a CUDA device"/></testcase>
</testsuite></testsuites>'''


def _row(mode, precision, ratio, peak=None, with_cp=False):
    case = dict(
        arch='tiny',
        mode=mode,
        sizes=[[224, 224]],
        batch=64,
        precision=precision,
        with_cp=with_cp)
    return dict(case=case, ratio=ratio, peak_mib=peak or {})


def test_report_lists_each_test_and_judges_targets(tmp_path):
    (tmp_path / 'tests.xml').write_text(JUNIT)
    bench = dict(
        setup=dict(device='cuda', gpu='Test GPU'),
        table='| a table |',
        rows=[
            _row('infer', 'fp32', 1.1),
            _row('infer', 'fp16', 1.6),
            _row('train', 'fp16', 1.2, dict(mmdet=1000., swin_mm=900.)),
            _row(
                'train',
                'fp16',
                1.1,
                dict(mmdet=300., swin_mm=150.),
                with_cp=True),
        ])
    (tmp_path / 'bench.json').write_text(json.dumps(bench))
    text = report(tmp_path / 'tests.xml', 1, tmp_path / 'bench.json', 0)
    assert '1 failed, 1 passed, 1 skipped' in text
    assert '| test_fast_path::test_b | failed | 1.25 | AssertionError: ' \
        '2e-3 > 1e-4 |' in text
    assert 'pytest exit code 1' in text and '| a table |' in text
    assert '- inference >= 1.5x, tiny 64x224x224 fp16: 1.60x, met' in text
    assert 'fp32: ' not in text  # the targets are for autocast inference
    assert 'training step >= 1.3x (tiny): 1.20x, NOT met; peak memory ' \
        "<= MMDetection's: 900 vs 1000 MiB, met" in text
    assert 'with_cp memory <= 1/8 of without: 150 vs 900 MiB (0.167), ' \
        'NOT met' in text


def test_report_says_when_nothing_was_written(tmp_path):
    text = report(tmp_path / 'none.xml', 124, tmp_path / 'none.json', None)
    assert 'No test results were written.' in text
    assert 'No benchmark results were written.' in text
    assert 'pytest exit code 124' in text


def test_multiscale_sizes_are_distinct_and_span_the_range():
    sizes = multiscale_sizes(6)
    assert len(set(sizes)) == 6
    assert sizes[0] == (480, 1333) and sizes[-1] == (800, 1333)
    assert multiscale_sizes(1) == ((800, 1333), )


def test_cpu_timer_measures_the_call():
    seconds = Timer('cpu')(lambda: time.sleep(0.05))
    assert 0.05 <= seconds < 1.0

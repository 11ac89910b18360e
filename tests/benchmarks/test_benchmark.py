"""The benchmark tool runs end to end and reports what it measured."""
import math

import pytest
import torch

from benchmarks import benchmark as tool
from benchmarks.swin_vs_mmdet import (Case, build_pair, parse_case_size,
                                      run_case, saved_activation_mib)
from swin_mm.models import SwinTransformer


def test_parse_case_size():
    assert parse_case_size('800x1344x2') == ((800, 1344), 2)
    assert parse_case_size('224x224') == ((224, 224), 1)
    for bad in ('224', '224x', 'ax224', '0x224x1', '224x224x1x1'):
        with pytest.raises(ValueError, match='HxW or HxWxBATCH'):
            parse_case_size(bad)


def test_pair_has_identical_weights_and_features():
    theirs, ours = build_pair('tiny')
    result = run_case(
        Case('tiny', 'infer', (96, 96), 1), {
            'mmdet': theirs,
            'swin_mm': ours
        },
        rounds=1,
        measure_memory=False)
    assert result.max_abs_diff <= 1e-4
    assert result.seconds['mmdet'] > 0 and result.seconds['swin_mm'] > 0
    assert result.matmul_gflops > 0 and result.mm_gflops > 0
    assert 0 < result.dense_gflop < result.model_gflop


def test_with_cp_saves_at_most_an_eighth_of_the_activations():
    x = torch.randn(2, 3, 224, 224)
    without = saved_activation_mib(SwinTransformer('tiny'), x)
    with_cp = saved_activation_mib(SwinTransformer('tiny', with_cp=True), x)
    assert with_cp * 8 <= without, (with_cp, without)


@pytest.mark.slow
def test_benchmark_tool_prints_table(capsys):
    assert tool.main([
        '--archs', 'tiny', '--infer', '64x64x1', '--train', '64x64x1',
        '--rounds', '1', '--cp-memory'
    ]) == 0
    out = capsys.readouterr().out
    rows = [
        line.split() for line in out.splitlines()
        if line.startswith('tiny') and (
            'infer' in line or 'train' in line) and 'x64x64' in line
    ]
    assert [row[1] for row in rows] == ['infer', 'train']
    for row in rows:
        assert row[5].endswith('x') and float(row[5][:-1]) > 0  # speed-up
        assert float(row[7]) <= 1e-4  # max|diff|
        assert not math.isnan(float(row[8])) and float(row[9]) >= 0  # MiB
    cp_rows = [
        line.split() for line in out.splitlines()
        if line.startswith('tiny  1x64x64')
    ]
    assert [row[2] for row in cp_rows] == ['mmdet', 'swin_mm']
    assert 'torch ' + torch.__version__ in out
    assert "as swin_mm's linear layers run it" in out and 'by torch.mm' in out


def test_benchmark_tool_rejects_bad_arguments(capsys):
    for argv, message in ((['--infer', '64'], 'HxW or HxWxBATCH'),
                          (['--rounds', '0'], '--rounds must be >= 1'),
                          (['--archs', 'huge'], 'invalid choice')):
        with pytest.raises(SystemExit):
            tool.main(argv)
        assert message in capsys.readouterr().err


def test_machine_line_names_the_matrix_instructions():
    from benchmarks.swin_vs_mmdet import describe_machine, matrix_instructions
    assert matrix_instructions({'amx_bf16', 'amx_int8', 'avx512_vnni',
                                'avx512_bf16', 'sse'}) == \
        'AMX-BF16, AMX-INT8, AVX512-VNNI, AVX512-BF16'
    assert matrix_instructions({'avx2', 'fma'}) == \
        'no AMX / VNNI / BF16 matrix instructions'
    assert matrix_instructions() in describe_machine('cpu', None)

"""FLOPs and params as the paper counts them, from the model itself."""

import pytest
import torch
from mmengine.analysis import FlopAnalyzer

from swin_mm.analysis import flops_report
from swin_mm.analysis.complexity import (PAPER_TABLE, PAPER_TABLE_V2,
                                         count_macs, count_macs_by_kind,
                                         msa_macs, paper_params,
                                         window_msa_macs)
from swin_mm.models import SwinTransformer, SwinTransformerV2
from swin_mm.models.backbones.swin_transformer import WindowMSA
from swin_mm.models.layers import window_partition


@pytest.mark.parametrize('arch,size,window,params_m,gmacs', PAPER_TABLE)
def test_flops_and_params_match_paper_table(arch, size, window, params_m,
                                            gmacs):
    model = SwinTransformer(arch, window_size=window, pretrain_img_size=size)
    flops = sum(count_macs(model, (size, size)).values()) / 1e9
    assert abs(flops / gmacs - 1) <= 0.02, flops
    params = paper_params(model) / 1e6
    assert abs(params / params_m - 1) <= 0.02, params


@pytest.mark.parametrize('arch,size,window,params_m,gmacs', PAPER_TABLE_V2)
def test_v2_flops_and_params_match_paper_table(arch, size, window, params_m,
                                               gmacs):
    model = SwinTransformerV2(arch, window_size=window)
    flops = sum(count_macs(model, (size, size)).values()) / 1e9
    assert abs(flops / gmacs - 1) <= 0.02, flops
    params = paper_params(model) / 1e6
    assert abs(params / params_m - 1) <= 0.02, params


def _traced_products(module, *inputs) -> int:
    analyzer = FlopAnalyzer(module, inputs)
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    return sum(macs for op, macs in analyzer.by_operator().items()
               if op in ('linear', 'matmul', 'bmm', 'addmm'))


@pytest.mark.parametrize('h,w,C,M', [(8, 8, 32, 4), (14, 21, 48, 7)])
def test_window_msa_formula_matches_a_direct_count(h, w, C, M):
    # One block's W-MSA: qkv and output projections plus the two products,
    # counted by MMEngine's tracer on the real attention module.
    attn = WindowMSA(C, num_heads=4, window_size=M).eval()
    windows = window_partition(torch.randn(1, h, w, C), M)
    assert _traced_products(attn, windows) == window_msa_macs(h, w, C, M)


def test_global_msa_formula_matches_a_direct_count():
    # Global MSA is attention in one window that covers the whole map.
    h = w = 6
    C = 32
    attn = WindowMSA(C, num_heads=4, window_size=h).eval()
    tokens = torch.randn(1, h * w, C)
    assert _traced_products(attn, tokens) == msa_macs(h, w, C)
    assert msa_macs(h, w, C) > window_msa_macs(h, w, C, 3)


@pytest.mark.parametrize('size', [(224, 224), (150, 203)])
def test_analytic_count_equals_traced_count(size):
    model = SwinTransformer(
        embed_dims=32,
        depths=(2, 2, 2, 2),
        num_heads=(1, 2, 4, 8),
        fast_path=False)
    kinds = count_macs_by_kind(model, size)
    traced = _traced_products(model.eval(), torch.zeros(1, 3, *size))
    convolution = model.patch_embed.projection
    embed = (
        convolution.out_channels * convolution.in_channels *
        convolution.kernel_size[0]**2 * ((size[0] + 3) // 4) *
        ((size[1] + 3) // 4))
    assert traced + embed == kinds['dense'] + kinds['attention']


def _run_tool(capsys, argv):
    assert flops_report.main(argv) == 0
    return capsys.readouterr().out


def test_get_flops_prints_params_flops_and_msa_table(capsys):
    out = _run_tool(capsys, ['--arch', 'tiny', '--cross-check'])
    assert 'FLOPs: 4.494 G multiply-adds' in out
    assert 'as the paper counts (final norm + 1000-class head) 28.29 M' in out
    assert 'difference +0.000%' in out
    # Stage 1 at 800x1333: global attention costs hundreds of times more.
    stage1 = [
        line for line in out.splitlines()
        if line.split()[:4] == ['1', '200', 'x', '334']
    ]
    assert len(stage1) == 1 and float(stage1[0].split()[-1]) > 100


@pytest.mark.slow
def test_get_flops_paper_table(capsys):
    out = _run_tool(capsys, ['--paper-table'])
    assert out.count('| Swin-') == len(PAPER_TABLE)
    assert out.count('| SwinV2-') == len(PAPER_TABLE_V2)


def test_get_flops_v2_cross_check(capsys):
    out = _run_tool(capsys, [
        '--v2', '--arch', 'tiny', '--size', '256', '256', '--window-size',
        '16', '--cross-check'
    ])
    assert 'SwinV2-T (window 16)' in out
    assert 'difference +0.000%' in out


@pytest.mark.parametrize('argv,message', [
    (['--arch', 'huge'], 'invalid choice'),
    (['--window-size', '0'], '--window-size must be >= 1'),
    (['--size', '0', '224'], '--size must be positive'),
])
def test_get_flops_rejects_bad_arguments(capsys, argv, message):
    with pytest.raises(SystemExit):
        flops_report.main(argv)
    assert message in capsys.readouterr().err

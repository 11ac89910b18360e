"""What every swin_mm backbone (V1 and V2) promises its users: forward hooks
fire on every path, an empty batch gives empty maps, and MMDetection's /
MMSegmentation's keyword arguments are taken with their meaning."""
import math

import pytest
import torch

from swin_mm.models import SwinTransformer, SwinTransformerV2, fast_path

SMALL = dict(
    embed_dims=16,
    depths=(2, 2, 2, 2),
    num_heads=(1, 2, 4, 8),
    drop_path_rate=0.)
VERSIONS = {'v1': SwinTransformer, 'v2': SwinTransformerV2}


def build(version: str, **kwargs):
    model = VERSIONS[version](**{**SMALL, **kwargs})
    model.init_weights()
    with torch.no_grad():  # V2's post-norms start at zero: wake them
        for name, param in model.named_parameters():
            if name.endswith(('norm1.weight', 'norm2.weight')):
                param.normal_(1, 0.2)
    return model


def run(model, x, train: bool):
    model.train(train)
    with torch.set_grad_enabled(train):
        return model(x)


@pytest.mark.parametrize('train', [False, True], ids=['eval', 'train'])
@pytest.mark.parametrize('version', sorted(VERSIONS))
def test_forward_hooks_fire_on_attention_mlp_and_blocks(version, train):
    model = build(version)
    x = torch.randn(2, 3, 72, 100)
    expected = run(model, x, train)
    block = model.stages[1].blocks[1]  # SW-MSA on a padded map
    seen = {}

    def record(name):

        def hook(module, inputs, output):
            seen.setdefault(name, []).append(
                (tuple(inputs[0].shape), tuple(output.shape)))

        return hook

    handles = [
        block.register_forward_hook(record('block')),
        block.attn.register_forward_hook(record('attn')),
        block.attn.qkv.register_forward_hook(record('qkv')),
        block.mlp.register_forward_hook(record('mlp')),
        block.mlp.fc1.register_forward_hook(record('fc1')),
    ]
    assert not fast_path.applies(block)
    outs = run(model, x, train)
    for handle in handles:
        handle.remove()

    C, M = 32, block.window_size
    B, L = 2, 9 * 13  # stage 2 of 72x100: 9x13 tokens
    num_windows = B * math.ceil(9 / M) * math.ceil(13 / M)
    assert seen['block'] == [((B, L, C), (B, L, C))]
    assert seen['attn'] == [((num_windows, M * M, C), (num_windows, M * M, C))]
    assert seen['qkv'] == [((num_windows, M * M, C), (num_windows, M * M,
                                                      3 * C))]
    assert seen['mlp'] == [((B, L, C), (B, L, C))]
    assert seen['fc1'] == [((B, L, C), (B, L, 4 * C))]
    # Hooks change which path runs, not what it computes.
    for a, b in zip(expected, outs):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-5)
    assert fast_path.applies(block)


@pytest.mark.parametrize('version', sorted(VERSIONS))
def test_global_forward_hooks_see_every_attention_call(version):
    model = build(version).eval()
    calls = []
    handle = torch.nn.modules.module.register_module_forward_hook(
        lambda module, inputs, output: calls.append(type(module).__name__))
    try:
        with torch.no_grad():
            model(torch.randn(1, 3, 64, 64))
    finally:
        handle.remove()
    attention = 'WindowMSA' if version == 'v1' else 'WindowCosineMSA'
    assert calls.count(attention) == sum(SMALL['depths'])
    assert calls.count('Mlp') == sum(SMALL['depths'])


@pytest.mark.parametrize('fused', [True, False], ids=['fast', 'reference'])
@pytest.mark.parametrize('train', [False, True], ids=['eval', 'train'])
@pytest.mark.parametrize('version', sorted(VERSIONS))
def test_empty_batch_gives_empty_maps(version, train, fused):
    model = build(version, fast_path=fused)
    outs = run(model, torch.randn(0, 3, 100, 72), train)
    assert [tuple(o.shape) for o in outs] == [
        (0, 16 * 2**i, math.ceil(100 / 2**(i + 2)), math.ceil(72 / 2**(i + 2)))
        for i in range(4)
    ]
    if train:
        sum(o.sum() for o in outs).backward()


@pytest.mark.parametrize('version', sorted(VERSIONS))
def test_mmdet_keyword_arguments_are_accepted(version):
    # The arguments MMDetection's / MMSegmentation's SwinTransformer take,
    # as their stock configs pass them.
    model = VERSIONS[version](
        pretrain_img_size=224,
        in_channels=3,
        embed_dims=16,
        patch_size=4,
        mlp_ratio=4,
        depths=(2, 2, 2, 2),
        num_heads=(1, 2, 4, 8),
        strides=(4, 2, 2, 2),
        out_indices=(0, 1, 2, 3),
        qkv_bias=True,
        patch_norm=True,
        drop_rate=0.,
        attn_drop_rate=0.,
        drop_path_rate=0.1,
        use_abs_pos_embed=False,
        act_cfg=dict(type='GELU'),
        norm_cfg=dict(type='LN', eps=1e-6),
        with_cp=False,
        convert_weights=True,
        frozen_stages=-1,
        init_cfg=None)
    assert model.stages[0].blocks[0].norm1.eps == 1e-6


@pytest.mark.parametrize('strides', [(4, 2, 2, 1), (2, 2, 2, 2), (4, 2, 2)])
def test_unsupported_strides_are_a_clear_error(strides):
    with pytest.raises(ValueError, match=r'supported.*strides=\(4, 2, 2, 2\)'):
        SwinTransformer(**SMALL, strides=strides)


@pytest.mark.parametrize('version', sorted(VERSIONS))
def test_fused_attention_is_a_deprecated_name_of_fast_path(version):
    model = VERSIONS[version](**SMALL, fused_attention=False)
    assert not any(block.fused for stage in model.stages
                   for block in stage.blocks)
    assert all(
        block.fused for stage in build(version).stages
        for block in stage.blocks)

"""What every swin_mm backbone (V1 and V2) promises its users, one suite run
over both versions: output shapes for any input size, gradients for every
parameter, frozen stages, with_cp, bad input, forward hooks on every path,
an empty batch, and MMDetection's / MMSegmentation's keyword arguments with
their meaning. Version-specific maths lives in test_swin_transformer*.py,
fast-path equivalence in fast_path/."""
import math

import pytest
import torch

from swin_mm.models import SwinTransformer, SwinTransformerV2, fast_path
from ..helpers import SMALL

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
        block.attn.register_forward_hook(record('shift_window_msa')),
        block.attn.w_msa.register_forward_hook(record('attn')),
        block.attn.w_msa.qkv.register_forward_hook(record('qkv')),
        block.ffn.register_forward_hook(record('mlp')),
        block.ffn.fc1.register_forward_hook(record('fc1')),
    ]
    assert not fast_path.applies(block)
    outs = run(model, x, train)
    for handle in handles:
        handle.remove()

    C, M = 32, block.attn.window_size
    B, L = 2, 9 * 13  # stage 2 of 72x100: 9x13 tokens
    num_windows = B * math.ceil(9 / M) * math.ceil(13 / M)
    assert seen['block'] == [((B, L, C), (B, L, C))]
    assert seen['shift_window_msa'] == [((B, L, C), (B, L, C))]
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
    assert not any(block.fast_path for stage in model.stages
                   for block in stage.blocks)
    assert all(
        block.fast_path for stage in build(version).stages
        for block in stage.blocks)


@pytest.mark.parametrize('version', sorted(VERSIONS))
def test_fast_path_off_runs_plain_pytorch_everywhere(version):
    """No oneDNN call, fused kernel or window plan: the aten ops of plain
    nn.Linear and explicit softmax attention only."""
    from swin_mm.models.fast_path import configure
    from ..helpers import CountOps
    x = torch.randn(1, 3, 64, 96)

    def ops_of(model):
        # oneDNN forced on at every size where it exists: only the switch
        # keeps it out.
        with configure(onednn=True, min_onednn_macs=0), CountOps() as count, \
                torch.no_grad():
            model.eval()(x)
        return count.ops

    fast = ops_of(VERSIONS[version](**SMALL))
    plain = ops_of(VERSIONS[version](**SMALL, fast_path=False))
    # oneDNN's product (_linear_pointwise), the fused attention kernel, the
    # chunked residual add.
    fused = ('scaled_dot_product', '_linear_pointwise', 'index_add')
    assert all(any(f in op for op in fast) for f in fused), fast
    assert not any(f in op for op in plain for f in fused), plain
    assert plain['_softmax'] > 0 and plain['roll'] > 0, plain


def expected_shapes(h, w, out_indices, batch=1, C=16):
    return [(batch, C * 2**i, math.ceil(h / 2**(i + 2)),
             math.ceil(w / 2**(i + 2))) for i in out_indices]


@pytest.mark.parametrize('size', [(224, 224), (511, 511), (112, 137),
                                  (97, 131), (32, 32), (5, 7)])
@pytest.mark.parametrize('version', sorted(VERSIONS))
def test_output_shapes_for_any_input_size(version, size):
    # 5x7: 2x2 tokens, far smaller than any window.
    model = build(version).eval()
    with torch.no_grad():
        outs = model(torch.randn(1, 3, *size))
    assert isinstance(outs, tuple)
    assert [tuple(o.shape) for o in outs] == expected_shapes(*size, range(4))
    assert all(torch.isfinite(o).all() for o in outs)


@pytest.mark.parametrize('out_indices', [(3, ), (1, 2), (0, ), (-2, -1)])
@pytest.mark.parametrize('version', sorted(VERSIONS))
def test_out_indices_choose_the_stages(version, out_indices):
    model = build(version, out_indices=out_indices).eval()
    with torch.no_grad():
        outs = model(torch.randn(1, 3, 64, 96))
    stages = [i % 4 for i in out_indices]
    assert [tuple(o.shape) for o in outs] == expected_shapes(64, 96, stages)


@pytest.mark.parametrize('version', sorted(VERSIONS))
def test_every_trainable_parameter_receives_a_gradient(version):
    model = build(
        version,
        use_abs_pos_embed=True,
        pretrain_img_size=64,
        drop_path_rate=0.1).train()
    # Batch 8: drop path (at most 0.1 per block) keeps every branch for
    # some image.
    outs = model(torch.randn(8, 3, 64, 96))
    sum(o.square().mean() for o in outs).backward()
    no_grad = [
        n for n, p in model.named_parameters()
        if p.grad is None or p.grad.abs().sum() == 0
    ]
    assert no_grad == []


@pytest.mark.parametrize('version', sorted(VERSIONS))
def test_frozen_stages_stay_frozen_after_train(version):
    model = build(version, frozen_stages=2)
    frozen_prefixes = ('patch_embed.', 'stages.0.', 'stages.1.', 'norm0.',
                       'norm1.')

    def check():
        for name, param in model.named_parameters():
            assert param.requires_grad != name.startswith(frozen_prefixes), \
                name

    check()  # frozen at construction, before any DDP wrapping
    model.train()
    check()
    assert not model.patch_embed.training and not model.stages[1].training
    assert model.stages[2].training and model.norm2.training
    sum(o.sum() for o in model(torch.randn(1, 3, 64, 64))).backward()
    for name, param in model.named_parameters():
        assert (param.grad is None) == name.startswith(frozen_prefixes), name


@pytest.mark.parametrize('version', sorted(VERSIONS))
def test_with_cp_gives_identical_outputs_and_gradients(version):
    ref = build(version, drop_path_rate=0.3)
    ckpt = build(version, drop_path_rate=0.3, with_cp=True)
    ckpt.load_state_dict(ref.state_dict())
    x = torch.randn(2, 3, 72, 88)
    outs, grads = [], []
    for model in (ref, ckpt):
        torch.manual_seed(7)  # same drop-path draws in both runs
        out = model.train()(x)
        sum((o * o).mean() for o in out).backward()
        outs.append([o.detach() for o in out])
        grads.append({n: p.grad for n, p in model.named_parameters()})
    for a, b in zip(*outs):
        assert torch.equal(a, b)
    for name in grads[0]:
        torch.testing.assert_close(
            grads[0][name], grads[1][name], rtol=0, atol=1e-7, msg=name)


@pytest.mark.parametrize('version', sorted(VERSIONS))
def test_with_cp_trains_when_input_does_not_require_grad(version):
    # Stage 1 frozen: its output needs no grad, yet stages 2-4 must train.
    model = build(version, with_cp=True, frozen_stages=1).train()
    sum(o.sum() for o in model(torch.randn(1, 3, 64, 64))).backward()
    assert model.stages[2].blocks[0].attn.w_msa.qkv.weight.grad is not None


@pytest.mark.parametrize('shape,match', [
    ((3, 32, 32), r'4-D tensor \(N, 3, H, W\)'),
    ((1, 1, 3, 32, 32), r'4-D tensor'),
    ((1, 4, 32, 32), r'got 4 channels'),
    ((1, 3, 3, 32), r'one patch at least'),
])
@pytest.mark.parametrize('version', sorted(VERSIONS))
def test_bad_input_raises_value_error_naming_expected_shape(
        version, shape, match):
    with pytest.raises(ValueError, match=match):
        build(version)(torch.randn(*shape))

"""SwinTransformerV2: V2's attention, bias, norms and merging against direct
computations; V1's behaviour (shapes, gradients, freezing, checkpointing,
fast path) carried over; checkpoint layout and window change."""
import math

import pytest
import torch
import torch.nn.functional as F

from swin_mm.checkpoint import detect_layout, load_pretrained, to_official
from swin_mm.models import SwinTransformerV2
from swin_mm.models.backbones.swin_transformer_v2 import (SwinBlockV2,
                                                          WindowCosineMSA,
                                                          unit_vectors)
from swin_mm.models.fast_path.attention import (attention_by_runs,
                                                bias_with_masks)
from swin_mm.models.layers import (PatchMergingV2, log_spaced_relative_coords,
                                   window_partition)
from ..helpers import SMALL


def _randomize(module, seed=0):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in module.named_parameters():
            noise = torch.randn(param.shape, generator=gen)
            if name.endswith('logit_scale'):
                param.copy_(math.log(10) + 0.3 * noise)
            elif 'norm' in name and name.endswith('weight'):
                param.copy_(1 + 0.2 * noise)
            else:
                param.copy_(0.1 * noise)


def small_v2(**kwargs):
    model = SwinTransformerV2(**{**SMALL, **kwargs})
    _randomize(model)
    return model


@pytest.mark.parametrize('M,pretrained', [(1, 0), (4, 0), (8, 0), (16, 8)])
def test_log_spaced_coords_match_direct_computation(M, pretrained):
    table = log_spaced_relative_coords(M, pretrained)
    assert table.shape == ((2 * M - 1)**2, 2)
    reference = (pretrained if pretrained else M) - 1
    offsets = range(-(M - 1), M)
    pairs = [(dy, dx) for dy in offsets for dx in offsets]
    for row, (dy, dx) in enumerate(pairs):
        for value, offset in zip(table[row].tolist(), (dy, dx)):
            x = offset / max(reference, 1) * 8
            expected = math.copysign(math.log2(abs(x) + 1) / 3, x) if x else 0
            assert value == pytest.approx(expected, abs=1e-6)


def _naive_cosine_attention(attn: WindowCosineMSA, windows, mask=None):
    """The V2 formula written out window by window and head by head."""
    C, heads = attn.embed_dims, attn.num_heads
    d = C // heads
    M = attn.window_size
    W_q, W_k, W_v = attn.qkv.weight.split(C)
    coords = log_spaced_relative_coords(M, attn.pretrained_window_size)
    cpb = attn.cpb_mlp[2](torch.relu(attn.cpb_mlp[0](coords)))
    out = torch.empty_like(windows)
    for w, x in enumerate(windows):
        q = x @ W_q.t() + attn.q_bias
        k = x @ W_k.t()  # no k bias
        v = x @ W_v.t() + attn.v_bias
        heads_out = []
        for h in range(heads):
            qh, kh, vh = (t[:, h * d:(h + 1) * d] for t in (q, k, v))
            cosine = F.cosine_similarity(qh[:, None], kh[None], dim=-1)
            scale = math.exp(min(attn.logit_scale[h].item(), math.log(100)))
            bias = torch.empty(M * M, M * M)
            for i in range(M * M):
                for j in range(M * M):
                    (yi, xi), (yj, xj) = divmod(i, M), divmod(j, M)
                    row = (yi - yj + M - 1) * (2 * M - 1) + (xi - xj + M - 1)
                    bias[i, j] = 16 * torch.sigmoid(cpb[row, h])
            logits = cosine * scale + bias
            if mask is not None:
                logits = logits + mask[w % mask.shape[0]]
            heads_out.append(logits.softmax(-1) @ vh)
        out[w] = attn.proj(torch.cat(heads_out, dim=-1))
    return out


def test_cosine_attention_matches_paper_formula():
    attn = WindowCosineMSA(16, num_heads=2, window_size=3)
    _randomize(attn)
    with torch.no_grad():
        attn.logit_scale[1] = 10.0  # above log(100): clamped
    windows = torch.randn(4, 9, 16)
    mask = torch.zeros(2, 9, 9)
    mask[1, :4, 4:] = mask[1, 4:, :4] = -100.
    with torch.no_grad():
        expected = _naive_cosine_attention(attn, windows, mask)
        explicit = attn(windows, mask)
        bias_masks = bias_with_masks(attn, mask)  # 2 groups
        fused = attn.output_projection(
            attention_by_runs(attn, attn.qkv_projection(windows), bias_masks,
                              ((0, 1, 0), (1, 1, 1), (2, 1, 0), (3, 1, 1)),
                              torch.tensor([0, 1, 0, 1])))
    torch.testing.assert_close(explicit, expected, rtol=0, atol=1e-5)
    torch.testing.assert_close(fused, expected, rtol=0, atol=1e-5)


def test_logit_scale_is_clamped_at_log_100():
    attn = WindowCosineMSA(8, num_heads=2, window_size=2)
    assert torch.allclose(attn.logit_scale, torch.full((2, 1, 1),
                                                       math.log(10)))
    with torch.no_grad():
        attn.logit_scale.copy_(torch.tensor([10.0, 1.0]).view(2, 1, 1))
    value = attn.logit_scale_value()
    assert value[0].item() == pytest.approx(100.0)
    assert value[1].item() == pytest.approx(math.e)
    value.sum().backward()
    assert attn.logit_scale.grad[0].item() == 0  # clamped: no gradient
    assert attn.logit_scale.grad[1].item() == pytest.approx(math.e)


def test_res_post_norm_block_on_one_window():
    block = SwinBlockV2(16, num_heads=2, window_size=4)
    _randomize(block)
    x = torch.randn(2, 16, 16)  # a 4x4 map: one window, no shift
    with torch.no_grad():
        windows = window_partition(x.view(2, 4, 4, 16), 4)
        y = x + block.norm1(block.attn.w_msa(windows).view(2, 16, 16))
        expected = y + block.norm2(block.ffn(y))
        for train in (True, False):  # explicit path, chunked inference
            block.train(train)
            torch.testing.assert_close(
                block(x, (4, 4)), expected, rtol=0, atol=1e-5)


def test_patch_merging_v2_normalizes_after_reduction():
    merging = PatchMergingV2(8)
    _randomize(merging)
    assert merging.norm.normalized_shape == (16, )
    x = torch.randn(1, 16, 8)
    out, hw = merging(x, (4, 4))
    grid = x.view(1, 4, 4, 8)
    # nn.Unfold's order: channel c of neighbour k at 4c + k, the 2 x 2
    # neighbours row by row.
    concat = torch.stack([
        grid[:, 0::2, 0::2], grid[:, 0::2, 1::2], grid[:, 1::2, 0::2],
        grid[:, 1::2, 1::2]
    ], -1)  # 1, 2, 2, 8, 4
    reduced = concat.reshape(1, 4, 32) @ merging.reduction.weight.t()
    expected = merging.norm(reduced)
    assert hw == (2, 2)
    torch.testing.assert_close(out, expected)


def test_v2_window_shrinks_to_small_maps_without_shift():
    model = SwinTransformerV2('tiny', window_size=16)
    last = model.stages[3].blocks[1]  # SW-MSA block
    assert last.attn.window_and_shift((8, 8)) == (8, (0, 0))
    assert last.attn.window_and_shift((5, 20)) == (5, (0, 0))
    assert last.attn.window_and_shift((32, 40)) == (16, (8, 8))
    mmdet_like = SwinTransformerV2('tiny', window_size=16, always_shift=True)
    assert mmdet_like.stages[3].blocks[1].attn.window_and_shift((8, 8)) == \
        (16, (8, 8))


def _official_v2_state_dict(model):
    """The model's weights as the official V2 classifier stores them, with
    its derived buffers and a classifier head."""
    state = to_official(model.state_dict())
    for key in list(state):
        if key.endswith('attn.logit_scale'):
            prefix = key[:-len('logit_scale')]
            state[prefix + 'relative_coords_table'] = torch.zeros(1)
            state[prefix + 'relative_position_index'] = torch.zeros(1)
    state['norm.weight'] = torch.ones(8 * 16)
    state['head.weight'] = torch.zeros(1000, 8 * 16)
    return state


def test_v2_official_layout_round_trips(tmp_path):
    source = small_v2(window_size=8).eval()
    state = _official_v2_state_dict(source)
    for key in ('layers.0.blocks.0.attn.logit_scale',
                'layers.0.blocks.0.attn.q_bias',
                'layers.0.blocks.0.attn.v_bias',
                'layers.0.blocks.0.attn.cpb_mlp.0.weight',
                'layers.0.blocks.0.attn.cpb_mlp.2.weight',
                'layers.0.downsample.reduction.weight',
                'layers.0.downsample.norm.weight'):
        assert key in state, key
    assert state['layers.0.downsample.norm.weight'].shape == (32, )
    assert detect_layout(state) == 'official'
    path = tmp_path / 'swinv2_official.pth'
    torch.save(state, path)
    target = SwinTransformerV2(**SMALL, window_size=8).eval()
    report = load_pretrained(target, str(path))
    assert not report.missing and not report.unexpected
    x = torch.randn(1, 3, 96, 112)
    with torch.no_grad():
        for a, b in zip(source(x), target(x)):
            torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_v2_window_8_checkpoint_loads_and_runs_at_window_16(tmp_path):
    path = tmp_path / 'swinv2_w8.pth'
    source = small_v2(window_size=8)
    torch.save(_official_v2_state_dict(source), path)
    model = SwinTransformerV2(
        **SMALL,
        window_size=16,
        pretrained_window_size=8,
        init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    model.init_weights()
    # Every weight is the checkpoint's (the continuous bias needs no
    # resize); only the derived coordinate tables follow the new window.
    loaded = dict(model.named_parameters())
    for name, param in source.named_parameters():
        assert torch.equal(loaded[name], param), name
    attn = model.stages[0].blocks[0].attn.w_msa
    assert attn.relative_coords_table.shape == (1, 31, 31, 2)
    # Offsets normalised by the pretrained window: the largest, 15, is
    # 15 / (8 - 1) * 8 before the log mapping.
    assert attn.relative_coords_table.abs().max().item() == pytest.approx(
        math.log2(15 / 7 * 8 + 1) / 3, abs=1e-6)
    with torch.no_grad():
        outs = model.eval()(torch.randn(1, 3, 128, 128))
    assert [o.shape[1] for o in outs] == [16, 32, 64, 128]
    assert all(torch.isfinite(o).all() for o in outs)


def test_v2_rejects_bad_arguments():
    with pytest.raises(ValueError, match='no qk_scale'):
        SwinTransformerV2(qk_scale=0.1)
    with pytest.raises(ValueError, match='one per stage'):
        SwinTransformerV2(window_size=(8, 8))
    with pytest.raises(ValueError, match='pretrained_window_size'):
        SwinTransformerV2(pretrained_window_size=-1)


def test_v2_builds_from_mmdet_and_mmseg_registries():
    from mmdet.registry import MODELS as MMDET_MODELS
    from mmseg.registry import MODELS as MMSEG_MODELS
    for registry in (MMDET_MODELS, MMSEG_MODELS):
        model = registry.build(dict(type='swin_mm.SwinTransformerV2', **SMALL))
        assert isinstance(model, SwinTransformerV2)


def test_unit_vectors_equal_normalize_with_bounded_gradient_at_zero():
    x = torch.randn(5, 7, 16)
    x[1, 3] = 0  # a padding slot's key
    x.requires_grad_(True)
    out = unit_vectors(x)
    assert torch.equal(out, F.normalize(x, dim=-1))
    out.backward(torch.ones_like(out))
    assert torch.equal(x.grad[1, 3], torch.ones(16))  # 1e12 by F.normalize
    assert torch.isfinite(x.grad).all()


def test_fp16_autocast_gradients_finite_on_padded_maps():
    # Every stage padded: padding slots hold zero keys. With a loss scale
    # as a GradScaler applies, no gradient may overflow to inf or NaN.
    model = small_v2(window_size=7).train()
    x = torch.randn(2, 3, 150, 203)
    with torch.autocast('cpu', dtype=torch.float16):
        loss = sum((o.float()**2).mean() for o in model(x))
    (1024 * loss).backward()
    bad = [
        n for n, p in model.named_parameters()
        if p.grad is not None and not torch.isfinite(p.grad).all()
    ]
    assert bad == []


def _mmpretrain_v2_keys(depths, out_indices, abs_pos_embed=False):
    """The state-dict keys of MMPretrain's SwinTransformerV2, in order, as
    its source builds them: patch embedding (mmcv's PatchEmbed), stages
    starting with PatchMerging (reduction, then the post-norm), blocks of
    ShiftWindowMSA(WindowMSAV2) registered before norm1, FFN before norm2,
    then the output norms."""
    keys = ['absolute_pos_embed'] if abs_pos_embed else []
    keys += [
        'patch_embed.projection.weight', 'patch_embed.projection.bias',
        'patch_embed.norm.weight', 'patch_embed.norm.bias'
    ]
    for i, depth in enumerate(depths):
        if i > 0:
            keys += [
                f'stages.{i}.downsample.reduction.weight',
                f'stages.{i}.downsample.norm.weight',
                f'stages.{i}.downsample.norm.bias'
            ]
        for j in range(depth):
            block = f'stages.{i}.blocks.{j}.'
            attn = block + 'attn.w_msa.'
            keys += [
                attn + name
                for name in ('logit_scale', 'q_bias', 'v_bias',
                             'relative_coords_table',
                             'relative_position_index', 'cpb_mlp.0.weight',
                             'cpb_mlp.0.bias', 'cpb_mlp.2.weight',
                             'qkv.weight', 'proj.weight', 'proj.bias')
            ]
            keys += [
                block + name
                for name in ('norm1.weight', 'norm1.bias',
                             'ffn.layers.0.0.weight', 'ffn.layers.0.0.bias',
                             'ffn.layers.1.weight', 'ffn.layers.1.bias',
                             'norm2.weight', 'norm2.bias')
            ]
    for i in out_indices:
        keys += [f'norm{i}.weight', f'norm{i}.bias']
    return keys


@pytest.mark.parametrize('kwargs', [
    dict(),
    dict(out_indices=(1, 3), use_abs_pos_embed=True, pretrain_img_size=256),
])
def test_state_dict_is_mmpretrains_v2_tree(kwargs):
    model = SwinTransformerV2(**SMALL, window_size=8, **kwargs)
    state = model.state_dict()
    assert list(state) == _mmpretrain_v2_keys(
        SMALL['depths'], kwargs.get('out_indices', (0, 1, 2, 3)),
        kwargs.get('use_abs_pos_embed', False))
    attn = 'stages.1.blocks.0.attn.w_msa.'
    assert state[attn + 'logit_scale'].shape == (2, 1, 1)
    assert state[attn + 'relative_coords_table'].shape == (1, 15, 15, 2)
    assert state[attn + 'relative_position_index'].shape == (64, 64)
    assert state[attn + 'cpb_mlp.0.weight'].shape == (512, 2)
    # Merging into stage 1: 4C (unfold order) -> 2C, norm on the 2C output.
    assert state['stages.1.downsample.reduction.weight'].shape == (32, 64)
    assert state['stages.1.downsample.norm.weight'].shape == (32, )
    if kwargs.get('use_abs_pos_embed'):
        assert state['absolute_pos_embed'].shape == (1, 64 * 64, 16)

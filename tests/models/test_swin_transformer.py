"""SwinTransformer (V1): presets, initialisation, absolute position
embedding, arguments. The generic backbone suite (shapes, gradients,
freezing, with_cp, bad input) is test_backbone.py."""

import pytest
import torch

from swin_mm.models import SwinTransformer
from ..helpers import SMALL


def small_swin(**kwargs) -> SwinTransformer:
    model = SwinTransformer(**{**SMALL, **kwargs})
    model.init_weights()
    return model


def test_frozen_stages_zero_freezes_patch_embed_and_abs_pos_embed_only():
    model = small_swin(frozen_stages=0, use_abs_pos_embed=True).train()
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert not any(n.startswith('patch_embed.') for n in trainable)
    assert 'absolute_pos_embed' not in trainable
    assert any(n.startswith('stages.0.') for n in trainable)


def test_abs_pos_embed_is_bicubically_resized_to_the_token_grid():
    model = small_swin(use_abs_pos_embed=True, pretrain_img_size=64).eval()
    x = torch.randn(1, 3, 96, 160)  # 24 x 40 tokens, trained on 16 x 16
    resized = small_swin(
        use_abs_pos_embed=True, pretrain_img_size=(96, 160)).eval()
    state = model.state_dict()
    grid = state['absolute_pos_embed'].view(1, 16, 16,
                                            -1).permute(0, 3, 1,
                                                        2)  # 1, C, 16, 16
    state['absolute_pos_embed'] = torch.nn.functional.interpolate(
        grid, size=(24, 40), mode='bicubic',
        align_corners=False).flatten(2).transpose(1, 2)  # 1, 24*40, C
    resized.load_state_dict(state)
    with torch.no_grad():
        for a, b in zip(model(x), resized(x)):
            torch.testing.assert_close(a, b, rtol=0, atol=1e-6)


# Whole classifiers' parameter counts: torchvision's published num_params
# (T, S, B) and the paper's 197M (L).
CLASSIFIER_PARAMS = {
    'tiny': 28_288_354,
    'small': 49_606_258,
    'base': 87_768_224,
    'large': 197e6
}


@pytest.mark.parametrize('arch', ['tiny', 'small', 'base', 'large'])
def test_arch_presets_have_the_papers_size(arch):
    model = SwinTransformer(arch=arch)
    C8 = 8 * model.embed_dims
    # The classifier has a 1000-class head and one final norm; the backbone
    # has an output norm per stage instead.
    backbone_only = sum(p.numel() for p in model.parameters())
    classifier = (
        backbone_only + C8 * 1000 + 1000 + 2 * C8 -
        2 * sum(model.num_features))
    expected = CLASSIFIER_PARAMS[arch]
    if arch == 'large':
        assert abs(classifier - expected) / expected < 0.005, classifier
    else:
        assert classifier == expected
    assert model.num_features[-1] == C8


def test_arch_preset_overridden_by_explicit_arguments():
    model = SwinTransformer(arch='base', depths=(2, 2, 2, 2))
    assert model.embed_dims == 128 and model.depths == (2, 2, 2, 2)
    assert [len(s.blocks) for s in model.stages] == [2, 2, 2, 2]
    # Blocks alternate W-MSA and SW-MSA.
    assert [b.attn.shift_size for b in model.stages[0].blocks] == [0, 3]


def test_drop_path_rises_linearly_over_all_blocks():
    model = SwinTransformer(**{**SMALL, 'drop_path_rate': 0.7})
    rates = [
        getattr(b.drop_path, 'drop_prob', 0.0) for s in model.stages
        for b in s.blocks
    ]
    assert rates == pytest.approx([0.1 * i for i in range(8)])


def test_default_init_is_truncated_normal_and_unit_layer_norm():
    model = small_swin()
    table = model.stages[2].blocks[0].attn.w_msa.relative_position_bias_table
    weight = model.stages[3].blocks[0].ffn.fc1.weight
    # trunc_normal_(std=.02) as in the official code (bounds at +-2, i.e.
    # 100 std: effectively a normal distribution).
    assert 0.019 < weight.std() < 0.021 and abs(weight.mean()) < 1e-3
    assert 0.015 < table.std() < 0.025
    assert model.norm3.weight.eq(1).all() and model.norm3.bias.eq(0).all()
    assert model.stages[1].blocks[0].attn.w_msa.qkv.bias.eq(0).all()


@pytest.mark.parametrize('kwargs,match', [
    (dict(arch='huge'), r"Unknown arch 'huge'.*'base', 'large', 'small'"),
    (dict(depths=(2, 2, 2)), r'len\(depths\)=3 and len\(num_heads\)=4'),
    (dict(num_heads=(5, 2, 4, 8)), r'stage 0 has 16 channels.*5 heads'),
    (dict(out_indices=(0, 4)), r'out_indices must be stage indices in '
     r'\[0, 3\]'),
    (dict(out_indices=(2, 1)), r'increasing and unique'),
    (dict(frozen_stages=5), r'frozen_stages must be in \[-1, 4\]'),
    (dict(frozen_stages=-2), r'frozen_stages must be in \[-1, 4\]'),
    (dict(window_size=0), r'window_size must be a positive int'),
    (dict(arch=3), r'arch must be a str or dict'),
    (dict(pretrain_img_size=(224, 224, 224)),
     r'pretrain_img_size must be an int or \(height, width\)'),
    (dict(pretrain_img_size=2), r'pretrain_img_size .* >= patch_size'),
    (dict(pretrained='a.pth',
          init_cfg=dict(type='Pretrained')), r'either pretrained or init_cfg'),
])
def test_bad_arguments_raise_with_what_is_allowed(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        SwinTransformer(**{**SMALL, **kwargs})


def test_negative_out_indices_count_from_the_end():
    assert small_swin(out_indices=(-2, -1)).out_indices == (2, 3)


def test_pretrained_alias_becomes_pretrained_init_cfg():
    model = SwinTransformer(**SMALL, pretrained='weights.pth')
    assert model.init_cfg == dict(type='Pretrained', checkpoint='weights.pth')


def test_split_heads_stacked_gives_the_same_q_k_v():
    attn = SwinTransformer(
        arch=dict(embed_dims=16, depths=(2, ), num_heads=(4, )),
        out_indices=(0, )).stages[0].blocks[0].attn.w_msa
    qkv = torch.randn(6, 49, 48)
    split = attn.split_heads(qkv)
    stacked = attn.split_heads(qkv, stacked=True)
    assert [t.shape for t in stacked] == [(6, 4, 49, 4)] * 3
    for a, b in zip(split, stacked):
        assert torch.equal(a, b)

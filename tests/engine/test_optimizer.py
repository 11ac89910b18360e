"""Layer-wise learning-rate decay and the official no-decay rules, built
by mmengine from a config, checked parameter by parameter against the
formula lr = base_lr * (custom lr_mult) * rate ** (num_layers - 1 - depth).
"""
import pytest
import torch
import torch.nn as nn
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope

from swin_mm.models import SwinTransformer, SwinTransformerV2

DEPTHS = (2, 2, 2, 2)  # num_layers = sum + 2 = 10
RATE, LR, WD = 0.9, 1e-3, 0.05


class Detector(nn.Module):
    """A backbone and a 'neck', named as in MMDetection's detectors."""

    def __init__(self, backbone: nn.Module):
        super().__init__()
        self.backbone = backbone
        self.neck = nn.Linear(8, 8)


def _build(model: nn.Module, **paramwise):
    cfg = dict(
        constructor='swin_mm.SwinLayerDecayOptimWrapperConstructor',
        optimizer=dict(type='AdamW', lr=LR, weight_decay=WD),
        paramwise_cfg=dict(layer_decay_rate=RATE, **paramwise))
    # As the runner builds it: the toolkit's default scope, swin_mm's type.
    with DefaultScope.overwrite_default_scope('mmdet'):
        wrapper = build_optim_wrapper(model, cfg)
    names = {id(p): n for n, p in model.named_parameters()}
    return {
        names[id(g['params'][0])]: g
        for g in wrapper.optimizer.param_groups
    }


def _model(cls):
    arch = dict(embed_dims=16, depths=DEPTHS, num_heads=(1, 2, 2, 4))
    return Detector(cls(arch=arch, use_abs_pos_embed=True))


# (parameter, depth) for V1: merging at the end of stage s counts with the
# stage's last block; output norms, neck: last depth (9).
V1_DEPTHS = {
    'backbone.patch_embed.projection.weight': 0,
    'backbone.absolute_pos_embed': 0,
    'backbone.stages.0.blocks.0.attn.w_msa.qkv.weight': 1,
    'backbone.stages.0.blocks.1.ffn.layers.0.0.weight': 2,
    'backbone.stages.0.downsample.reduction.weight': 2,
    'backbone.stages.1.blocks.0.norm1.weight': 3,
    'backbone.stages.2.downsample.norm.weight': 6,
    'backbone.stages.3.blocks.1.attn.w_msa.proj.weight': 8,
    'backbone.norm3.weight': 9,
    'neck.weight': 9,
}
# V2: merging at the start of stage s counts with the stage's first block.
V2_DEPTHS = {
    'backbone.patch_embed.projection.weight': 0,
    'backbone.stages.1.downsample.reduction.weight': 3,
    'backbone.stages.1.blocks.0.attn.w_msa.logit_scale': 3,
    'backbone.stages.3.downsample.norm.weight': 7,
    'backbone.stages.3.blocks.1.norm2.weight': 8,
    'backbone.norm0.weight': 9,
    'neck.bias': 9,
}


@pytest.mark.parametrize('cls,expected', [(SwinTransformer, V1_DEPTHS),
                                          (SwinTransformerV2, V2_DEPTHS)])
def test_each_parameter_lr_follows_the_layer_decay_formula(cls, expected):
    model = _model(cls)
    groups = _build(model)
    assert set(groups) == {n for n, _ in model.named_parameters()}
    for name, depth in expected.items():
        assert groups[name]['lr'] == pytest.approx(LR * RATE**(9 - depth)), \
            name
    # Every backbone parameter against the backbone's own numbering.
    for name, group in groups.items():
        if name.startswith('backbone.'):
            depth, num_layers = model.backbone.get_layer_depth(name[9:])
            assert num_layers == 10
            assert group['lr'] == pytest.approx(LR * RATE**(9 - depth))


@pytest.mark.parametrize('cls', [SwinTransformer, SwinTransformerV2])
def test_no_weight_decay_on_what_the_official_code_exempts(cls):
    groups = _build(_model(cls))
    for name, group in groups.items():
        exempt = (
            group['params'][0].ndim == 1 or any(
                k in name for k in ('absolute_pos_embed', 'relative_position',
                                    'logit_scale', 'cpb_mlp')))
        assert group['weight_decay'] == (0. if exempt else WD), name
    assert groups['backbone.stages.0.blocks.0.attn.w_msa.qkv.weight'][
        'weight_decay'] == WD
    if cls is SwinTransformerV2:
        for key in ('logit_scale', 'q_bias', 'v_bias', 'cpb_mlp.0.weight',
                    'cpb_mlp.2.weight'):
            name = f'backbone.stages.2.blocks.1.attn.w_msa.{key}'
            assert groups[name]['weight_decay'] == 0., name


def test_custom_keys_combine_with_layer_decay():
    groups = _build(
        _model(SwinTransformer),
        custom_keys={
            'backbone.stages.1': dict(lr_mult=0.5),
            'relative_position_bias_table': dict(decay_mult=2.)
        })
    name = 'backbone.stages.1.blocks.1.attn.w_msa.qkv.weight'  # depth 4
    assert groups[name]['lr'] == pytest.approx(LR * 0.5 * RATE**5)
    table = ('backbone.stages.0.blocks.0.attn.w_msa.'
             'relative_position_bias_table')
    # A custom decay_mult wins over the no-decay default.
    assert groups[table]['weight_decay'] == pytest.approx(2 * WD)


def test_frozen_parameters_are_left_out():
    model = Detector(
        SwinTransformer(
            arch=dict(embed_dims=16, depths=DEPTHS, num_heads=(1, 2, 2, 4)),
            frozen_stages=1))
    groups = _build(model)
    assert not any(n.startswith('backbone.stages.0.') for n in groups)
    assert 'backbone.stages.1.blocks.0.norm1.weight' in groups


@pytest.mark.parametrize('paramwise,match', [
    (dict(), 'needs paramwise_cfg=dict\\(layer_decay_rate'),
    (dict(layer_decay_rate=1.5), r'layer_decay_rate must be in \(0, 1\]'),
    (dict(layer_decay_rate=0.9, no_decay_keys='cpb_mlp'), 'sequence of str'),
])
def test_bad_paramwise_cfg_is_an_error(paramwise, match):
    cfg = dict(
        constructor='swin_mm.SwinLayerDecayOptimWrapperConstructor',
        optimizer=dict(type='AdamW', lr=LR, weight_decay=WD),
        paramwise_cfg=paramwise)
    with pytest.raises((ValueError, TypeError), match=match):
        build_optim_wrapper(_model(SwinTransformer), cfg)


def test_a_model_without_swin_backbone_is_an_error():
    cfg = dict(
        constructor='swin_mm.SwinLayerDecayOptimWrapperConstructor',
        optimizer=dict(type='AdamW', lr=LR, weight_decay=WD),
        paramwise_cfg=dict(layer_decay_rate=0.9))
    with pytest.raises(TypeError, match='needs a swin_mm SwinTransformer'):
        build_optim_wrapper(nn.Sequential(nn.Linear(2, 2)), cfg)


def test_optimizer_steps_with_decayed_groups():
    model = _model(SwinTransformer)
    cfg = dict(
        constructor='swin_mm.SwinLayerDecayOptimWrapperConstructor',
        optimizer=dict(type='SGD', lr=LR, weight_decay=0.),
        paramwise_cfg=dict(layer_decay_rate=0.5))
    wrapper = build_optim_wrapper(model, cfg)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    sum(o.sum() for o in model.backbone(torch.randn(1, 3, 64, 64))).backward()
    grads = {n: p.grad.clone() for n, p in model.backbone.named_parameters()}
    wrapper.step()
    # SGD moves each parameter by lr * grad: the decayed lr, exactly.
    for name in ('patch_embed.projection.bias', 'norm3.bias'):
        param = dict(model.backbone.named_parameters())[name]
        step = before['backbone.' + name] - param.detach()
        depth, _ = model.backbone.get_layer_depth(name)
        assert depth == (0 if name.startswith('patch') else 9)
        torch.testing.assert_close(
            step, LR * 0.5**(9 - depth) * grads[name], rtol=1e-5, atol=1e-9)

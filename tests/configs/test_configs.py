"""Every config loads and builds its model (no weights are downloaded: the
backbone's checkpoint is only read by init_weights)."""
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from swin_mm.datasets.toy import ToySpec
from swin_mm.models import SwinTransformer, SwinTransformerV2

CONFIGS = Path(__file__).parents[2] / 'configs'
ALL = sorted(p for p in CONFIGS.rglob('*.py') if '_base_' not in p.parts)


def build_model(cfg: Config):
    init_default_scope(cfg.default_scope)
    registry = {'mmdet': 'mmdet.registry', 'mmseg': 'mmseg.registry'}
    MODELS = __import__(
        registry[cfg.default_scope], fromlist=['MODELS']).MODELS
    return MODELS.build(cfg.model)


def test_every_task_has_configs():
    names = {p.name for p in ALL}
    for expected in (
            'mask-rcnn_swin-t-p4-w7_fpn_1x_coco.py',
            'mask-rcnn_swin-t-p4-w7_fpn_ms-crop-3x_coco.py',
            'mask-rcnn_swin-s-p4-w7_fpn_ms-crop-3x_coco.py',
            *(f'cascade-mask-rcnn_swin-{a}-p4-w7_fpn_giou-4conv1f_ms-crop-'
              '3x_coco.py'
              for a in 'tsb'), 'retinanet_swin-t-p4-w7_fpn_1x_coco.py',
            'upernet_swin-t-p4-w7_8xb2-160k_ade20k-512x512.py',
            'upernet_swin-s-p4-w7_8xb2-160k_ade20k-512x512.py',
            'upernet_swin-b-p4-w7_8xb2-160k_ade20k-512x512.py',
            'mask-rcnn_swinv2-t-w8_fpn_1x_coco.py',
            'upernet_swinv2-t-w8_8xb2-160k_ade20k-512x512.py',
            'mask-rcnn_swinv2-toy-w8_fpn_toy-coco.py',
            'upernet_swinv2-toy-w8_toy-seg.py'):
        assert expected in names


@pytest.mark.parametrize('path', ALL, ids=lambda p: p.name)
def test_config_builds_its_model_with_swin_mm_backbone(path):
    cfg = Config.fromfile(str(path))
    model = build_model(cfg)
    assert isinstance(model.backbone, SwinTransformer)
    backbone = cfg.model.backbone
    if 'toy' not in path.parts:
        # Real configs start from the official ImageNet checkpoint (or,
        # inherited from MMSegmentation, its conversion to their layout).
        assert backbone.init_cfg.checkpoint.startswith(
            ('https://github.com/SwinTransformer/storage/releases/',
             'https://download.openmmlab.com/mmsegmentation/v0.5/pretrain/'
             'swin/'))
    if 'arch' in backbone and 'toy' not in path.parts:
        arch = backbone.arch
        expected = (f'swinv2_{arch}_patch4_window8_256.pth' if 'swinv2'
                    in path.name else f'swin_{arch}_patch4_window7_224.pth')
        assert expected in backbone.init_cfg.checkpoint
    assert isinstance(model.backbone, SwinTransformerV2) == \
        ('swinv2' in path.name)
    if 'swinv2' in path.name:
        keys = cfg.optim_wrapper.paramwise_cfg.custom_keys
        assert keys.cpb_mlp.decay_mult == keys.logit_scale.decay_mult == 0
    # The neck / decode head takes exactly the backbone's channels.
    channels = [
        model.backbone.num_features[i] for i in model.backbone.out_indices
    ]
    head = (
        cfg.model.get('neck') or cfg.model.get('panoptic_head')
        or cfg.model.decode_head)
    assert list(head.in_channels) == channels


@pytest.mark.parametrize(
    'path', [p for p in ALL if 'toy' not in p.parts], ids=lambda p: p.name)
def test_real_configs_point_at_the_real_dataset_layout(path):
    cfg = Config.fromfile(str(path))
    root = cfg.train_dataloader.dataset.get('data_root') or \
        cfg.train_dataloader.dataset.dataset.data_root
    assert root.rstrip('/') in ('data/coco', 'data/ade/ADEChallengeData2016')


def test_detection_recipe_is_the_published_one():
    cfg = Config.fromfile(
        str(CONFIGS / 'detection/mask-rcnn_swin-t-p4-w7_fpn_1x_coco.py'))
    assert cfg.optim_wrapper.optimizer.type == 'AdamW'
    assert cfg.optim_wrapper.optimizer.lr == 1e-4
    assert cfg.optim_wrapper.optimizer.weight_decay == 0.05
    assert set(cfg.optim_wrapper.paramwise_cfg.custom_keys) == {
        'absolute_pos_embed', 'relative_position_bias_table', 'norm'
    }
    assert cfg.model.backbone.drop_path_rate == 0.2
    assert cfg.train_cfg.max_epochs == 12
    assert cfg.param_scheduler[1].milestones == [8, 11]
    cfg3x = Config.fromfile(
        str(CONFIGS /
            'detection/mask-rcnn_swin-t-p4-w7_fpn_ms-crop-3x_coco.py'))
    assert cfg3x.train_cfg.max_epochs == 36
    assert cfg3x.param_scheduler[1].milestones == [27, 33]


def test_segmentation_recipe_is_the_published_one():
    cfg = Config.fromfile(
        str(CONFIGS / 'segmentation/upernet_swin-t-p4-w7_8xb2-160k_ade20k-'
            '512x512.py'))
    opt = cfg.optim_wrapper
    assert (opt.optimizer.type, opt.optimizer.lr,
            opt.optimizer.weight_decay) == ('AdamW', 6e-5, 0.01)
    warmup, poly = cfg.param_scheduler
    assert warmup.type == 'LinearLR' and warmup.end == 1500
    assert poly.type == 'PolyLR' and poly.end == 160000
    assert cfg.model.auxiliary_head.type == 'FCNHead'
    assert cfg.model.backbone.drop_path_rate == 0.3


@pytest.mark.parametrize('name', [
    'mask-rcnn_swin-toy-p4-w7_fpn_toy-coco.py',
    'mask-rcnn_swinv2-toy-w8_fpn_toy-coco.py'
])
def test_toy_detector_reads_objects_over_56_px_from_p3(name):
    cfg = Config.fromfile(str(CONFIGS / 'toy' / name))
    model = build_model(cfg)
    # The model sees the 256x256 toy images resized by the test pipeline.
    resize, = [
        t for t in cfg.test_dataloader.dataset.pipeline if t.type == 'Resize'
    ]
    scale = resize.scale[0] / ToySpec().size
    # rois: (batch index, x1, y1, x2, y2): toy objects of 24, 40, 60, 96 px
    # in the image, as the model sees them.
    rois = torch.tensor([[0., 0., 0., s * scale, s * scale]
                         for s in (24, 40, 60, 96)])
    for extractor in (model.roi_head.bbox_roi_extractor,
                      model.roi_head.mask_roi_extractor):
        levels = extractor.map_roi_levels(rois, num_levels=4)
        assert levels.tolist() == [0, 0, 1, 1]


def test_toy_upernet_starts_from_the_toy_detectors_backbone(tmp_path):
    """The toy UperNet's init_cfg names the checkpoint `make main` writes,
    and init_weights loads that detector's backbone into it."""
    toy = CONFIGS / 'toy'
    det_cfg = Config.fromfile(
        str(toy / 'mask-rcnn_swin-toy-p4-w7_fpn_toy-'
            'coco.py'))
    seg_cfg = Config.fromfile(str(toy / 'upernet_swin-toy-p4-w7_toy-seg.py'))
    makefile = (CONFIGS.parent / 'Makefile').read_text()
    work_dir = 'work_dirs/toy_mask_rcnn'
    assert f'--work-dir {work_dir}\n' in makefile
    expected = f'{work_dir}/iter_{det_cfg.train_cfg.max_iters}.pth'
    assert seg_cfg.model.backbone.init_cfg.checkpoint == expected
    assert f'TOY_DET_CKPT := {expected}\n' in makefile

    # A detector's checkpoint as mmengine's CheckpointHook saves it.
    detector = build_model(det_cfg)
    torch.save({
        'meta': {
            'iter': 1
        },
        'state_dict': detector.state_dict()
    }, tmp_path / 'iter_1.pth')
    seg_cfg.model.backbone.init_cfg.checkpoint = str(tmp_path / 'iter_1.pth')
    segmentor = build_model(seg_cfg)
    segmentor.backbone.init_weights()
    expected_state = detector.backbone.state_dict()
    loaded = segmentor.backbone.state_dict()
    assert loaded.keys() == expected_state.keys()
    for key, value in expected_state.items():
        assert torch.equal(loaded[key], value), key


SWAP = """
model = dict(
    backbone=dict(
        _delete_=True,
        type='swin_mm.SwinTransformer',
        arch=dict(embed_dims=32, depths=(2, 2, 2, 2), num_heads=(1, 2, 4, 8))),
    {head})
"""


def user_config(tmp_path, base: str, head: str) -> Config:
    """A user's config as the README shows it: a toolkit's stock config
    (``mmdet::``/``mmseg::`` work in _base_) with the backbone swapped."""
    path = tmp_path / 'swapped.py'
    path.write_text(f'_base_ = [{base!r}]\n' + SWAP.format(head=head))
    return Config.fromfile(str(path))


def test_backbone_swaps_into_stock_mmdet_mask_rcnn(tmp_path):
    cfg = user_config(tmp_path,
                      'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py',
                      'neck=dict(in_channels=[32, 64, 128, 256])')
    model = build_model(cfg).eval()
    assert isinstance(model.backbone, SwinTransformer)
    x = torch.randn(1, 3, 96, 128)
    with torch.no_grad():
        feats = model.extract_feat(x)
        # The detector's features are FPN's over swin_mm's four maps.
        expected = model.neck(model.backbone(x))
    assert [f.shape[1] for f in feats] == [256] * 5  # FPN P2-P6
    for a, b in zip(feats, expected):
        assert torch.equal(a, b)
    # ...and they change with the backbone's weights.
    with torch.no_grad():
        model.backbone.patch_embed.projection.weight.mul_(2)
        assert not torch.allclose(model.extract_feat(x)[0], feats[0])


def test_backbone_swaps_into_stock_mmseg_upernet(tmp_path):
    cfg = user_config(
        tmp_path, 'mmseg::upernet/upernet_r50_4xb4-80k_ade20k-512x512.py',
        'decode_head=dict(in_channels=[32, 64, 128, 256]), '
        'auxiliary_head=dict(in_channels=128)')
    model = build_model(cfg).eval()
    assert isinstance(model.backbone, SwinTransformer)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        logits = model._forward(x)
        # UperNet's logits over swin_mm's four maps; the auxiliary FCN head
        # reads the third (128 channels).
        feats = model.backbone(x)
        expected = model.decode_head(feats)
        aux = model.auxiliary_head(feats)
    assert logits.shape == (1, 150, 16, 16)
    assert torch.equal(logits, expected)
    assert model.auxiliary_head.in_channels == 128 == feats[2].shape[1]
    assert aux.shape == (1, 150, 4, 4)


RECIPES = {
    'detection/mask2former_swin-t-p4-w7-224_8xb2-lsj-50e_coco.py':
    'mmdet::mask2former/mask2former_swin-t-p4-w7-224_8xb2-lsj-50e_coco.py',
    'detection/mask2former_swin-t-p4-w7-224_8xb2-lsj-50e_coco-panoptic.py':
    'mmdet::mask2former/mask2former_swin-t-p4-w7-224_8xb2-lsj-50e_coco-'
    'panoptic.py',
    'detection/dino-5scale_swin-l_8xb2-12e_coco.py':
    'mmdet::dino/dino-5scale_swin-l_8xb2-12e_coco.py',
    'segmentation/mask2former_swin-t_8xb2-160k_ade20k-512x512.py':
    'mmseg::mask2former/mask2former_swin-t_8xb2-160k_ade20k-512x512.py',
}


@pytest.mark.parametrize('name', sorted(RECIPES))
def test_toolkit_recipes_change_the_backbone_type_only(name):
    ours = Config.fromfile(str(CONFIGS / name))
    toolkit, path = RECIPES[name].split('::')
    import importlib
    root = Path(importlib.import_module(toolkit).__file__).parent
    theirs = Config.fromfile(str(root / '.mim' / 'configs' / path))
    assert ours.model.backbone.type == 'swin_mm.SwinTransformer'
    ours.model.backbone.type = theirs.model.backbone.type
    # Inheriting through `mmdet::` marks each registry entry with its scope.
    assert _without_scopes(ours.to_dict()) == theirs.to_dict()


def _without_scopes(value):
    if isinstance(value, dict):
        return {
            k: _without_scopes(v)
            for k, v in value.items() if k != '_scope_'
        }
    if isinstance(value, (list, tuple)):
        return type(value)(_without_scopes(v) for v in value)
    return value


def _built_settings(name: str):
    """A config of ours and (lr, weight decay) of each trainable parameter
    of its model, from its own optim_wrapper."""
    from .sweep import parameter_settings
    cfg = Config.fromfile(str(CONFIGS / name))
    return cfg, parameter_settings(cfg, build_model(cfg))


@pytest.mark.parametrize('name', [
    'detection/mask2former_swin-t-p4-w7-224_8xb2-lsj-50e_coco.py',
    'segmentation/mask2former_swin-t_8xb2-160k_ade20k-512x512.py'
])
def test_mask2former_no_decay_rules_reach_every_patch_merging_norm(name):
    cfg, settings = _built_settings(name)
    base_lr = cfg.optim_wrapper.optimizer.lr
    for i in range(3):  # patch merging at the end of stages 0-2
        lr, wd = settings[f'backbone.stages.{i}.downsample.norm.weight']
        assert (lr, wd) == (pytest.approx(0.1 * base_lr), 0.), i
    assert not any(
        k.startswith('backbone.stages.3.downsample') for k in settings)
    lr, wd = settings['backbone.stages.3.blocks.1.norm2.weight']
    assert wd == 0.
    lr, wd = settings['backbone.stages.1.blocks.0.attn.w_msa.qkv.weight']
    assert wd == cfg.optim_wrapper.optimizer.weight_decay


@pytest.mark.parametrize('name', [
    'detection/mask-rcnn_swinv2-t-w8_fpn_1x_coco.py',
    'segmentation/upernet_swinv2-t-w8_8xb2-160k_ade20k-512x512.py',
    'toy/mask-rcnn_swinv2-toy-w8_fpn_toy-coco.py',
    'toy/upernet_swinv2-toy-w8_toy-seg.py'
])
def test_v2_configs_do_not_decay_what_the_v2_code_exempts(name):
    cfg, settings = _built_settings(name)
    wd = cfg.optim_wrapper.optimizer.weight_decay
    block = 'backbone.stages.2.blocks.1.'
    for key in ('attn.w_msa.logit_scale', 'attn.w_msa.q_bias',
                'attn.w_msa.v_bias', 'attn.w_msa.cpb_mlp.0.weight',
                'attn.w_msa.cpb_mlp.0.bias', 'attn.w_msa.cpb_mlp.2.weight',
                'norm1.weight', 'norm2.bias'):
        assert settings[block + key][1] == 0., key
    assert settings['backbone.stages.2.downsample.norm.weight'][1] == 0.
    assert settings[block + 'attn.w_msa.qkv.weight'][1] == wd
    assert settings[block + 'ffn.layers.0.0.weight'][1] == wd


@pytest.mark.parametrize('name,base', [
    ('sharded/dino-5scale_swin-l_8xb2-12e_coco_sharded.py',
     'detection/dino-5scale_swin-l_8xb2-12e_coco.py'),
    ('sharded/mask2former_swin-l-p4-w12-384-in21k_16xb1-lsj-100e_coco-'
     'panoptic_sharded.py', None),
])
def test_sharded_recipes_are_what_train_py_sharded_makes(name, base):
    """The sharded recipes equal their unsharded config turned sharded by
    tools/train.py --sharded, plus with_cp."""
    from swin_mm.engine import make_sharded
    from swin_mm.engine.sharding import ShardedStrategy
    ours = Config.fromfile(str(CONFIGS / name))
    assert ours.runner_type == 'FlexibleRunner'
    assert ours.model.backbone.with_cp is True
    if base is None:
        plain = Config.fromfile(str(CONFIGS / name))
        for key in ('runner_type', 'strategy', 'custom_hooks'):
            plain.pop(key)
        plain.optim_wrapper.type = 'OptimWrapper'
        plain.optim_wrapper.pop('constructor')
    else:
        plain = Config.fromfile(str(CONFIGS / base))
        plain.model.backbone.with_cp = True
    make_sharded(plain)
    assert _without_scopes(plain.to_dict()) == _without_scopes(ours.to_dict())
    from mmengine.registry import STRATEGIES
    assert STRATEGIES.get(ours.strategy.type) is ShardedStrategy

"""The shipped Swin configs of the installed MMDetection and
MMSegmentation, and what a config decides for each backbone parameter.

Used by ``test_toolkit_config_sweep``: the toolkit's model and the one with
only ``backbone.type`` changed to swin_mm's are compared by what a user's
training sees (parameter names, learning rate, weight decay, frozen or
not), all decided by the config's own ``optim_wrapper`` built by mmengine.
"""
import copy
import os
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import mmdet
import mmseg
import torch.nn as nn
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope, init_default_scope

SWIN = 'swin_mm.SwinTransformer'


def shipped_swin_configs() -> List[Path]:
    """Every ``*swin*`` config of both toolkits (their ``.mim/configs``)."""
    paths = []
    for package in (mmdet, mmseg):
        root = Path(package.__file__).parent / '.mim' / 'configs'
        paths += sorted(root.rglob('*swin*.py'))
    return paths


def config_id(path: Path) -> str:
    """``mmdet:swin/mask-rcnn_...`` for test ids."""
    toolkit = _toolkit(path)
    configs = path.parts.index('configs')
    return f"{toolkit}:{'/'.join(path.parts[configs + 1:])[:-3]}"


def _toolkit(path: Path) -> str:
    return path.parts[path.parts.index('.mim') - 1]


def load(path: Path, swin_mm: bool) -> Config:
    """The config as shipped, or with ``model.backbone.type`` (alone)
    swapped to swin_mm's Swin. A base model config that sets no default
    scope gets its toolkit's."""
    cfg = Config.fromfile(str(path))
    cfg.setdefault('default_scope', _toolkit(path))
    if swin_mm:
        cfg.model.backbone.type = SWIN
    return cfg


def registry(scope: str):
    init_default_scope(scope)
    return __import__(f'{scope}.registry', fromlist=['MODELS']).MODELS


def build_model(cfg: Config) -> Tuple[Optional[nn.Module], Optional[str]]:
    """The config's whole model, or (None, why) when it cannot be built
    here: a language model from a model hub (mmdet raises RuntimeError
    naming ``transformers``, not installed here, or OSError offline), an
    optional package the toolkit asks to ``pip install`` (fairscale for
    Grounding DINO's checkpointing), or a shipped config the toolkit's
    own code does not accept (a TypeError from a module's arguments)."""
    models = registry(cfg.default_scope)
    try:
        return models.build(copy.deepcopy(cfg.model)), None
    except (OSError, RuntimeError, NotImplementedError, TypeError) as e:
        text = ' '.join(str(e).split())
        if isinstance(e, (RuntimeError, NotImplementedError)) and \
                'pip install' not in text:
            raise
        return None, f'{type(e).__name__}: {text[:120]}'


class BackboneOnly(nn.Module):
    """The backbone alone under the name ``backbone``, so that a config's
    name-keyed rules (``backbone.stages...``) reach it as in the model."""

    def __init__(self, backbone: nn.Module):
        super().__init__()
        self.backbone = backbone


def build_backbone(cfg: Config) -> nn.Module:
    return BackboneOnly(
        registry(cfg.default_scope).build(copy.deepcopy(cfg.model.backbone)))


def parameter_settings(cfg: Config,
                       model: nn.Module) -> Dict[str, Tuple[float, float]]:
    """(learning rate, weight decay) of every trainable parameter, from the
    config's own ``optim_wrapper`` built by mmengine (in train mode, after
    any freezing); frozen parameters are absent. A base model config with
    no ``optim_wrapper`` gets a plain AdamW."""
    optim_cfg = copy.deepcopy(
        cfg.get(
            'optim_wrapper',
            dict(optimizer=dict(type='AdamW', lr=1e-4, weight_decay=0.05))))
    # The wrapper type (AMP, ...) does not decide the parameter groups; AMP
    # refuses to build without a GPU.
    optim_cfg['type'] = 'OptimWrapper'
    optim_cfg.pop('loss_scale', None)
    optim_cfg.pop('dtype', None)
    model.train()
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        wrapper = build_optim_wrapper(model, optim_cfg)
    names = {id(p): n for n, p in model.named_parameters()}
    settings = {}
    for group in wrapper.optimizer.param_groups:
        for param in group['params']:
            settings[names[id(param)]] = (group['lr'],
                                          group.get('weight_decay'))
    return settings


def backbone_setting(cfg: Config) -> tuple:
    """What decides the backbone's features: architecture, window, strides,
    channels, outputs (unset options at the toolkit's defaults)."""
    bb = cfg.model.backbone
    depths = tuple(bb.get('depths', (2, 2, 6, 2)))
    patch = bb.get('patch_size', 4)
    setting = dict(
        embed_dims=bb.get('embed_dims', 96),
        depths=depths,
        num_heads=tuple(bb.get('num_heads', (3, 6, 12, 24))),
        window_size=bb.get('window_size', 7),
        strides=tuple(
            bb.get('strides') or (patch, ) + (2, ) * (len(depths) - 1)),
        mlp_ratio=bb.get('mlp_ratio', 4),
        out_indices=tuple(bb.get('out_indices', (0, 1, 2, 3))),
        qkv_bias=bb.get('qkv_bias', True),
        patch_norm=bb.get('patch_norm', True),
        in_channels=bb.get('in_channels', 3),
        use_abs_pos_embed=bb.get('use_abs_pos_embed', False))
    if setting['use_abs_pos_embed']:
        setting['pretrain_img_size'] = bb.get('pretrain_img_size', 224)
    return tuple(sorted(setting.items()))


def one_config_per_setting(paths: List[Path]) -> List[Path]:
    """The first config of each distinct :func:`backbone_setting`."""
    first = {}
    for path in paths:
        first.setdefault(backbone_setting(load(path, False)), path)
    return list(first.values())


def offline_env() -> None:
    """No model hub: a text encoder's download fails at once."""
    os.environ.setdefault('HF_HUB_OFFLINE', '1')
    os.environ.setdefault('TRANSFORMERS_OFFLINE', '1')

"""Layer-wise learning-rate decay for detectors and segmentors with a
swin_mm backbone.

``SwinLayerDecayOptimWrapperConstructor`` builds the optimizer as mmengine's
``DefaultOptimWrapperConstructor`` does (``custom_keys``, ``norm_decay_mult``,
``bias_lr_mult``, ... all apply), then

- scales each parameter's learning rate by
  ``layer_decay_rate ** (num_layers - 1 - depth)``, the depth from the
  backbone's :meth:`~swin_mm.models.SwinTransformer.get_layer_depth`
  (MMPretrain's numbering; neck and heads at the last depth, scale 1);
- gives no weight decay to what the official Swin code exempts: 1-D
  parameters (norms, biases, V2's ``q_bias`` / ``v_bias``), the absolute
  position embedding, relative position bias tables, V2's ``logit_scale``
  and continuous position bias MLP (``cpb_mlp``), unless a ``custom_keys``
  entry sets ``decay_mult`` for the parameter. ``no_decay_keys`` replaces
  the name list.

Config::

    optim_wrapper = dict(
        constructor='swin_mm.SwinLayerDecayOptimWrapperConstructor',
        optimizer=dict(type='AdamW', lr=1e-4, weight_decay=0.05),
        paramwise_cfg=dict(layer_decay_rate=0.9))
"""
from typing import Dict, List, Optional, Sequence, Tuple

import torch.nn as nn
from mmengine.logging import print_log
from mmengine.optim import DefaultOptimWrapperConstructor, OptimWrapper

from swin_mm.registry import OPTIM_WRAPPER_CONSTRUCTORS

#: Names (substrings) of parameters the official code does not decay.
NO_DECAY_KEYS = ('absolute_pos_embed', 'relative_position_bias_table',
                 'logit_scale', 'cpb_mlp')


def swin_backbone(model: nn.Module) -> Tuple[nn.Module, str]:
    """The swin_mm backbone of a model (or the model itself) and the prefix
    of its parameter names."""
    from swin_mm.models import SwinTransformer
    if isinstance(model, SwinTransformer):
        return model, ''
    backbone = getattr(model, 'backbone', None)
    if isinstance(backbone, SwinTransformer):
        return backbone, 'backbone.'
    raise TypeError(
        'SwinLayerDecayOptimWrapperConstructor needs a swin_mm '
        'SwinTransformer / SwinTransformerV2 as the model or as its '
        f'`backbone`; got {type(model).__name__} with backbone '
        f'{type(backbone).__name__}')


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class SwinLayerDecayOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """mmengine's default constructor with layer-wise learning-rate decay
    over a swin_mm backbone and the official no-decay rules (see the module
    docstring).

    ``paramwise_cfg`` takes mmengine's options plus:

    - ``layer_decay_rate`` (float in (0, 1], required);
    - ``no_decay_keys`` (sequence of str): name substrings with no weight
      decay (default :data:`NO_DECAY_KEYS`; 1-D parameters always).
    """

    def __init__(self,
                 optim_wrapper_cfg: dict,
                 paramwise_cfg: Optional[dict] = None) -> None:
        paramwise_cfg = dict(paramwise_cfg or {})
        if 'layer_decay_rate' not in paramwise_cfg:
            raise ValueError(
                'SwinLayerDecayOptimWrapperConstructor needs '
                'paramwise_cfg=dict(layer_decay_rate=...), e.g. 0.9')
        rate = paramwise_cfg.pop('layer_decay_rate')
        if not (isinstance(rate, (int, float)) and 0 < rate <= 1):
            raise ValueError(
                f'layer_decay_rate must be in (0, 1], got {rate!r}')
        no_decay = paramwise_cfg.pop('no_decay_keys', NO_DECAY_KEYS)
        if isinstance(no_decay,
                      str) or not all(isinstance(k, str) for k in no_decay):
            raise TypeError('no_decay_keys must be a sequence of str, got '
                            f'{no_decay!r}')
        super().__init__(optim_wrapper_cfg, paramwise_cfg)
        self.layer_decay_rate = float(rate)
        self.no_decay_keys: Sequence[str] = tuple(no_decay)

    def _custom_decay(self, name: str) -> bool:
        """Whether a ``custom_keys`` entry sets this parameter's decay (the
        longest matching key wins, as in mmengine)."""
        custom_keys: Dict[str,
                          dict] = self.paramwise_cfg.get('custom_keys', {})
        for key in sorted(sorted(custom_keys), key=len, reverse=True):
            if key in name:
                return 'decay_mult' in custom_keys[key]
        return False

    def __call__(self, model: nn.Module) -> OptimWrapper:
        if hasattr(model, 'module'):
            model = model.module
        backbone, prefix = swin_backbone(model)
        from .sharding import unsharded_name

        # Names as in the unsharded model (FSDP adds a level per unit).
        names = {id(p): unsharded_name(n) for n, p in model.named_parameters()}
        params: List[dict] = []
        self.add_params(params, model)
        for group in params:
            name = names[id(group['params'][0])]
            if name.startswith(prefix):
                depth, num_layers = backbone.get_layer_depth(
                    name[len(prefix):])
            else:
                num_layers = sum(backbone.depths) + 2
                depth = num_layers - 1
            scale = self.layer_decay_rate**(num_layers - 1 - depth)
            group['lr'] = group.get('lr', self.base_lr) * scale
            param = group['params'][0]
            if (self.base_wd is not None and not self._custom_decay(name)
                    and (param.ndim == 1 or any(k in name
                                                for k in self.no_decay_keys))):
                group['weight_decay'] = 0.
            group['layer_depth'] = depth
        print_log(
            f'Layer-wise lr decay {self.layer_decay_rate} over '
            f'{sum(backbone.depths) + 2} depths; '
            f'{sum(g.get("weight_decay", 1) == 0 for g in params)} of '
            f'{len(params)} parameters without weight decay',
            logger='current')

        optim_wrapper_cfg = self.optim_wrapper_cfg.copy()
        optim_wrapper_cfg.setdefault('type', 'OptimWrapper')
        optimizer_cfg = self.optimizer_cfg.copy()
        optimizer_cfg['params'] = params
        from mmengine.registry import OPTIM_WRAPPERS, OPTIMIZERS
        optimizer = OPTIMIZERS.build(optimizer_cfg)
        return OPTIM_WRAPPERS.build(
            optim_wrapper_cfg, default_args=dict(optimizer=optimizer))

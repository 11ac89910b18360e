"""Sharded training (PyTorch FSDP) through mmengine.

``tools/train.py CONFIG --sharded`` (with torchrun, ``--launcher pytorch``)
trains any swin_mm detector or segmentor config with mmengine's
``FlexibleRunner`` and ``FSDPStrategy``: parameters, gradients and optimizer
state are split over the ranks (``FULL_SHARD``), one FSDP unit per Swin
block and per patch merging, the rest of the model (stem, neck, heads) in
the root unit. Checkpoints are written whole by rank 0: ordinary files
that an unsharded model, MMDetection's own model and ``--resume`` read.

What mmengine leaves to the caller, done here:

- :class:`ShardedDataParallel`: mmengine's FSDP wrapper with the Swin wrap
  policy by default, and on CPU-only processes (gloo) the CPU as its device
  (mmengine passes the local rank, a CUDA device index);
- :class:`ShardedOptimWrapper`: gradient clipping by the norm over all
  shards (``torch.nn.utils.clip_grad_norm_`` sees only the local shard, so
  each rank would clip by another norm);
- :class:`ShardedOptimWrapperConstructor`: the config's own optimizer
  constructor, with parameter names as in the unsharded model (FSDP puts
  each unit's parameters under ``_fsdp_wrapped_module``, which would keep
  ``custom_keys`` such as ``backbone.stages.0.downsample.norm`` from
  matching);
- whole-model state dicts gathered without ``offload_to_cpu`` on CPU-only
  processes (PyTorch's offload of CPU tensors crashes there);
- :class:`ShardedStrategy`: mmengine 0.10.7's ``FSDPStrategy`` with the
  optimizer state of a whole checkpoint loaded for current PyTorch
  (``--resume``: mmengine passes ``optim_state_dict_to_load`` its
  arguments in an order PyTorch 2.x no longer takes).

Composes with ``with_cp`` (the blocks checkpoint themselves inside their
FSDP unit), ``frozen_stages`` (``use_orig_params=True`` keeps frozen and
trainable parameters apart) and FSDP's ``mixed_precision`` (set it in
``strategy.model_wrapper``).
"""
import functools
from typing import Any, Optional

import torch
import torch.distributed as dist
import torch.nn as nn
from mmengine._strategy import FSDPStrategy
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.model import MMFullyShardedDataParallel
from mmengine.optim import OptimWrapper
from torch.distributed.fsdp import FullyShardedDataParallel
from torch.distributed.fsdp.wrap import lambda_auto_wrap_policy

from swin_mm.registry import (HOOKS, MODEL_WRAPPERS,
                              OPTIM_WRAPPER_CONSTRUCTORS, OPTIM_WRAPPERS,
                              STRATEGIES)

#: The attribute under which FSDP holds a wrapped unit.
FSDP_PREFIX = '_fsdp_wrapped_module.'


def unsharded_name(name: str) -> str:
    """A parameter's name in the unsharded model."""
    return name.replace(FSDP_PREFIX, '')


def is_fsdp_unit(module: nn.Module) -> bool:
    """One FSDP unit per Swin block and per patch merging."""
    from swin_mm.models.backbones.swin_transformer import SwinBlock
    from swin_mm.models.layers.patch import PatchMerging
    return isinstance(module, (SwinBlock, PatchMerging))


#: The auto-wrap policy of :func:`is_fsdp_unit`.
swin_wrap_policy = functools.partial(
    lambda_auto_wrap_policy, lambda_fn=is_fsdp_unit)


@MODEL_WRAPPERS.register_module()
class ShardedDataParallel(MMFullyShardedDataParallel):
    """mmengine's ``MMFullyShardedDataParallel`` with one FSDP unit per Swin
    block and patch merging (unless ``auto_wrap_policy`` is given), and the
    CPU as device where there is no CUDA."""

    def __init__(self, module: nn.Module, **kwargs: Any) -> None:
        if kwargs.get('auto_wrap_policy') is None:
            kwargs['auto_wrap_policy'] = swin_wrap_policy
        if not torch.cuda.is_available():
            kwargs['device_id'] = torch.device('cpu')
        kwargs.setdefault('use_orig_params', True)
        super().__init__(module=module, **kwargs)


@OPTIM_WRAPPERS.register_module()
class ShardedOptimWrapper(OptimWrapper):
    """``OptimWrapper`` whose ``clip_grad=dict(max_norm=...)`` clips by the
    gradient norm over all ranks' shards, as unsharded training clips by
    the norm of the whole gradient (L2 and max norms)."""

    def _clip_grad(self) -> None:
        if self.grad_name != 'grad_norm':  # by value: shard by shard
            return super()._clip_grad()
        params = [
            p for group in self.optimizer.param_groups for p in group['params']
            if p.requires_grad and p.grad is not None
        ]
        kwargs = dict(self.clip_grad_kwargs)
        max_norm = float(kwargs.pop('max_norm'))
        norm_type = float(kwargs.pop('norm_type', 2.))
        if kwargs:
            raise ValueError('ShardedOptimWrapper clips by max_norm and '
                             f'norm_type only; got {sorted(kwargs)}')
        # Every rank joins the reduction, with or without a local shard.
        grad_norm = sharded_grad_norm(params, norm_type)
        scale = max_norm / (float(grad_norm) + 1e-6)
        if scale < 1:
            for p in params:
                p.grad.detach().mul_(scale)
        self.message_hub.update_scalar('train/grad_norm', float(grad_norm))


def sharded_grad_norm(params, norm_type: float = 2.) -> torch.Tensor:
    """The norm of the gradients of every rank's shards together (a
    collective: every rank calls it)."""
    grads = [p.grad.detach().float() for p in params if p.grad.numel()]
    local = torch.zeros(())
    if norm_type == float('inf'):
        if grads:
            local = torch.stack([g.abs().max() for g in grads]).max()
        op = dist.ReduceOp.MAX
    else:
        if grads:
            local = torch.stack([g.norm(norm_type)**norm_type
                                 for g in grads]).sum()
        op = dist.ReduceOp.SUM
    if dist.is_available() and dist.is_initialized():
        dist.all_reduce(local, op=op)
    return local if norm_type == float('inf') else local**(1. / norm_type)


class _UnwrapFSDP:
    """Mixin for an optimizer constructor: walk FSDP units as the modules
    they wrap, so every rule sees the unsharded names."""

    def add_params(self, params, module, prefix='', is_dcn_module=None):
        if isinstance(module, FullyShardedDataParallel):
            module = module.module
        return super().add_params(params, module, prefix, is_dcn_module)


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class ShardedOptimWrapperConstructor:
    """Build the optimizer of a sharded model with the config's own
    constructor (``base_constructor`` in ``optim_wrapper``, by default
    mmengine's), its name-keyed rules applied to the unsharded names."""

    def __init__(self,
                 optim_wrapper_cfg: dict,
                 paramwise_cfg: Optional[dict] = None) -> None:
        from mmengine.registry import \
            OPTIM_WRAPPER_CONSTRUCTORS as ROOT_CONSTRUCTORS
        optim_wrapper_cfg = dict(optim_wrapper_cfg)
        base = optim_wrapper_cfg.pop('base_constructor',
                                     'DefaultOptimWrapperConstructor')
        base_cls = ROOT_CONSTRUCTORS.get(base)
        if base_cls is None:
            raise ValueError(f'Unknown optimizer constructor {base!r}')
        unwrapping = type(f'Sharded{base_cls.__name__}',
                          (_UnwrapFSDP, base_cls), {})
        self.constructor = unwrapping(optim_wrapper_cfg, paramwise_cfg)

    def __call__(self, model: nn.Module) -> OptimWrapper:
        return self.constructor(model)


@STRATEGIES.register_module()
class ShardedStrategy(FSDPStrategy):
    """mmengine's ``FSDPStrategy`` with swin_mm's defaults: the model
    wrapped by :class:`ShardedDataParallel`, whole checkpoints
    (:func:`full_state_dict_cfg`), and the optimizer state of a checkpoint
    loaded with PyTorch's current ``optim_state_dict_to_load(model, optim,
    state)``."""

    def __init__(self,
                 *,
                 model_wrapper: Optional[dict] = None,
                 state_dict_cfg: Optional[dict] = None,
                 **kwargs: Any) -> None:
        super().__init__(
            model_wrapper=model_wrapper
            or dict(type='swin_mm.ShardedDataParallel'),
            state_dict_cfg=state_dict_cfg or full_state_dict_cfg(),
            **kwargs)

    def load_optim_state_dict(self, state_dict: dict) -> None:
        optimizer = self.optim_wrapper.optimizer
        self.optim_wrapper.load_state_dict(
            FullyShardedDataParallel.optim_state_dict_to_load(
                self.model, optimizer, state_dict))


def held_bytes(model: nn.Module, optimizer: torch.optim.Optimizer) -> dict:
    """Bytes this rank holds of the model's parameters, their gradients and
    the optimizer state (with FSDP and ``use_orig_params=True`` each
    parameter is this rank's shard of it). Gradients: each trainable
    parameter's (shard's) size, what the step holds; by the end of an
    iteration the optimizer wrapper has freed them."""
    params = [p for p in model.parameters()]
    state = [
        t for per_param in optimizer.state.values()
        for t in per_param.values()
        if isinstance(t, torch.Tensor) and t.dim() > 0
    ]
    return dict(
        params=sum(p.numel() * p.element_size() for p in params),
        grads=sum(p.numel() * p.element_size() for p in params
                  if p.requires_grad),
        optimizer=sum(t.numel() * t.element_size() for t in state))


@HOOKS.register_module()
class HeldBytesHook(Hook):
    """After the first training iteration, print on every rank the bytes it
    holds of parameters, gradients and optimizer state (one line per rank:
    ``held by rank R of W: params P, grads G, optimizer O bytes``)."""
    priority = 'LOWEST'

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None) -> None:
        if runner.iter != 1:  # `iter` counts the finished iterations
            return
        optim_wrapper = runner.optim_wrapper
        held = held_bytes(runner.model, optim_wrapper.optimizer)
        rank = dist.get_rank() if dist.is_initialized() else 0
        world = dist.get_world_size() if dist.is_initialized() else 1
        print(
            f'held by rank {rank} of {world}: params {held["params"]}, '
            f'grads {held["grads"]}, optimizer {held["optimizer"]} bytes',
            flush=True)


def full_state_dict_cfg() -> dict:
    """mmengine's ``state_dict_cfg`` for whole checkpoints written by rank
    0; offloaded to the CPU on GPUs only."""
    offload = torch.cuda.is_available()
    return dict(
        state_dict_type='FULL_STATE_DICT',
        state_dict_config=dict(
            type='FullStateDictConfig',
            offload_to_cpu=offload,
            rank0_only=True),
        optim_state_dict_config=dict(
            type='FullOptimStateDictConfig',
            offload_to_cpu=offload,
            rank0_only=False))


def make_sharded(cfg: Config, strategy: Optional[dict] = None) -> None:
    """Turn a training config into a sharded one, in place: mmengine's
    ``FlexibleRunner`` with :class:`ShardedStrategy`,
    :class:`ShardedOptimWrapper` where the config uses the plain
    ``OptimWrapper``, the config's optimizer constructor run by
    :class:`ShardedOptimWrapperConstructor`, and :class:`HeldBytesHook`.
    The config's own ``strategy`` entries are kept and ``strategy``'s
    added (e.g. ``model_wrapper=dict(mixed_precision=...)``); a strategy
    of another kind is an error."""
    if cfg.get('runner_type') not in (None, 'Runner', 'FlexibleRunner'):
        raise ValueError(
            f"--sharded runs mmengine's FlexibleRunner; the config asks for "
            f'runner_type={cfg.runner_type!r}')
    optim_type = cfg.optim_wrapper.get('type', 'OptimWrapper')
    if optim_type in ('OptimWrapper', 'AmpOptimWrapper'):
        if optim_type == 'OptimWrapper':
            cfg.optim_wrapper.type = 'swin_mm.ShardedOptimWrapper'
    elif optim_type != 'swin_mm.ShardedOptimWrapper':
        raise ValueError(
            f'--sharded: optim_wrapper type {optim_type!r} is not supported '
            "(OptimWrapper or AmpOptimWrapper)")
    if optim_type == 'AmpOptimWrapper' and cfg.optim_wrapper.get('clip_grad'):
        raise ValueError(
            '--sharded with AMP and clip_grad: clipping over shards is '
            "done by swin_mm.ShardedOptimWrapper, not mmengine's "
            'AmpOptimWrapper; use FSDP mixed_precision in the strategy '
            'instead of --amp')
    base = cfg.optim_wrapper.get('constructor')
    if base is not None and base != SHARDED_CONSTRUCTOR:
        cfg.optim_wrapper.base_constructor = base
    cfg.optim_wrapper.constructor = SHARDED_CONSTRUCTOR
    hooks = list(cfg.get('custom_hooks') or [])
    if not any(h.get('type') == 'swin_mm.HeldBytesHook' for h in hooks):
        hooks.append(dict(type='swin_mm.HeldBytesHook'))
    cfg.custom_hooks = hooks
    cfg.runner_type = 'FlexibleRunner'
    # The config's own strategy settings (mixed precision, ...) are kept.
    merged = dict(cfg.get('strategy') or {})
    merged.update(strategy or {})
    kind = merged.get('type', 'swin_mm.ShardedStrategy')
    if kind not in ('swin_mm.ShardedStrategy', 'FSDPStrategy'):
        raise ValueError(
            f'--sharded trains with swin_mm.ShardedStrategy; the config '
            f'asks for strategy type {kind!r}')
    merged['type'] = 'swin_mm.ShardedStrategy'
    wrapper = dict(merged.get('model_wrapper') or {})
    wrapper.setdefault('type', 'swin_mm.ShardedDataParallel')
    merged['model_wrapper'] = wrapper
    cfg.strategy = merged


SHARDED_CONSTRUCTOR = 'swin_mm.ShardedOptimWrapperConstructor'

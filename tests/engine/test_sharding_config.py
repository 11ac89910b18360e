"""What --sharded makes of a config (make_sharded), without training."""
import pytest

from swin_mm.engine import make_sharded
from swin_mm.engine.launch import load_config
from .conftest import DET_CFG


def test_sharded_config_keeps_the_configs_own_strategy_settings():
    cfg = load_config(str(DET_CFG))
    cfg.strategy = dict(
        model_wrapper=dict(mixed_precision=dict(param_dtype='bfloat16')),
        activation_checkpointing=None)
    make_sharded(cfg)
    assert cfg.runner_type == 'FlexibleRunner'
    assert cfg.strategy.type == 'swin_mm.ShardedStrategy'
    assert cfg.strategy.model_wrapper == dict(
        type='swin_mm.ShardedDataParallel',
        mixed_precision=dict(param_dtype='bfloat16'))
    assert 'activation_checkpointing' in cfg.strategy
    assert cfg.optim_wrapper.type == 'swin_mm.ShardedOptimWrapper'
    assert cfg.optim_wrapper.constructor == \
        'swin_mm.ShardedOptimWrapperConstructor'
    assert {'type': 'swin_mm.HeldBytesHook'} in cfg.custom_hooks


def test_sharded_config_keeps_the_configs_optimizer_constructor():
    cfg = load_config(str(DET_CFG))
    cfg.optim_wrapper.constructor = \
        'swin_mm.SwinLayerDecayOptimWrapperConstructor'
    make_sharded(cfg)
    assert cfg.optim_wrapper.base_constructor == \
        'swin_mm.SwinLayerDecayOptimWrapperConstructor'


@pytest.mark.parametrize('change,match', [
    (dict(strategy=dict(type='DeepSpeedStrategy')), 'DeepSpeedStrategy'),
    (dict(runner_type='SomeRunner'), 'FlexibleRunner'),
])
def test_sharded_config_refuses_another_strategy_or_runner(change, match):
    cfg = load_config(str(DET_CFG))
    cfg.merge_from_dict(change)
    with pytest.raises(ValueError, match=match):
        make_sharded(cfg)

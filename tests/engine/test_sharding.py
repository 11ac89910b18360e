"""Sharded training (FSDP through mmengine's FlexibleRunner) of the toy
Mask R-CNN in two CPU processes (gloo), against the same training
unsharded (FlexibleRunner with DDPStrategy: the same runner, seeds and data
order, only the wrapper differs)."""
import re

import pytest
import torch

from swin_mm.checkpoint.loading import read_checkpoint
from swin_mm.engine.launch import load_config
from .conftest import DET_CFG, ROOT, free_port, logged_losses, run_tool

pytestmark = pytest.mark.slow

ITERS = 4


def _train(toy_root, work, *args, config=DET_CFG, resume=None):
    """A two-process toy training of ``ITERS`` iterations, checkpoints at
    2 and 4; returns the log."""
    from .conftest import small_run_options
    options = [
        *small_run_options(toy_root, ITERS), 'train_dataloader.batch_size=1',
        'default_hooks.checkpoint.interval=2',
        'default_hooks.checkpoint.max_keep_ckpts=2'
    ]
    extra = ['--resume', resume] if resume else []
    out = run_tool(
        'tools/dist_train.sh',
        config,
        2,
        '--work-dir',
        work,
        *args,
        *extra,
        '--cfg-options',
        *options,
        env={
            'PYTHON': str(ROOT / '.venv/bin/python'),
            'PORT': str(free_port()),
            'OMP_NUM_THREADS': '1'
        })
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout + out.stderr


#: The toy config, unsharded through the sharded run's runner.
UNSHARDED = f"""_base_ = ['{DET_CFG}']
runner_type = 'FlexibleRunner'
strategy = dict(
    type='DDPStrategy',
    model_wrapper=dict(type='swin_mm.CPUDistributedDataParallel'))
custom_hooks = [dict(type='swin_mm.HeldBytesHook')]
"""


@pytest.fixture(scope='module')
def runs(toy_root, tmp_path_factory):
    sharded = tmp_path_factory.mktemp('sharded')
    unsharded = tmp_path_factory.mktemp('unsharded')
    config = unsharded / 'unsharded.py'
    config.write_text(UNSHARDED)
    return dict(
        sharded=(sharded, _train(toy_root, sharded, '--sharded')),
        unsharded=(unsharded, _train(toy_root, unsharded, config=config)))


def _grad_norms(log):
    return [
        float(v)
        for v in re.findall(r'Iter\(train\).*?grad_norm: ([\d.]+)', log)
    ]


def test_sharded_losses_equal_the_unsharded_ones(runs):
    sharded, unsharded = runs['sharded'][1], runs['unsharded'][1]
    assert 'ShardedStrategy' in sharded and 'DDPStrategy' in unsharded
    a, b = logged_losses(sharded), logged_losses(unsharded)
    assert len(a) == len(b) == ITERS
    assert a == pytest.approx(b, rel=1e-3), (a, b)
    # Clipping and logging see the norm of the whole gradient, not a shard.
    assert _grad_norms(sharded) == pytest.approx(
        _grad_norms(unsharded), rel=1e-3)


def _held(log):
    """{rank: (params, grads, optimizer)} bytes from HeldBytesHook."""
    found = re.findall(
        r'held by rank (\d) of 2: params (\d+), grads (\d+), '
        r'optimizer (\d+) bytes', log)
    return {int(r): tuple(map(int, v)) for r, *v in found}


def test_each_rank_holds_about_half_of_the_training_state(runs):
    sharded, unsharded = _held(runs['sharded'][1]), _held(runs['unsharded'][1])
    assert set(sharded) == set(unsharded) == {0, 1}
    full = unsharded[0]
    assert unsharded[1] == full  # replicated
    for kind in range(3):
        shards = [sharded[r][kind] for r in (0, 1)]
        # The two shards hold the whole (FSDP pads a unit to a multiple of
        # the world size), about half each.
        assert 0 <= sum(shards) - full[kind] <= 64 * 4, (kind, shards)
        for shard in shards:
            assert 0.4 * full[kind] <= shard <= 0.6 * full[kind], (kind,
                                                                   shards)


def _toy_model(mmdet_swin: bool = False):
    """The toy detector, with swin_mm's or MMDetection's Swin (the same
    architecture in MMDetection's arguments)."""
    cfg = load_config(str(DET_CFG))
    if mmdet_swin:
        backbone = dict(cfg.model.backbone)
        backbone.update(backbone.pop('arch'), type='mmdet.SwinTransformer')
        cfg.model.backbone = backbone
    from mmdet.registry import MODELS
    from mmengine.registry import init_default_scope
    init_default_scope('mmdet')
    return MODELS.build(cfg.model).eval()


def test_sharded_checkpoint_is_ordinary(runs):
    """Written whole by rank 0: an unsharded swin_mm model and
    MMDetection's own model load it strictly and predict the same; it
    equals the unsharded run's weights."""
    work = runs['sharded'][0]
    state = read_checkpoint(str(work / f'iter_{ITERS}.pth'))['state_dict']
    assert not any('_fsdp' in k or k.startswith('module.') for k in state)
    ours = _toy_model()
    ours.load_state_dict(state, strict=True)
    theirs = _toy_model(mmdet_swin=True)
    theirs.load_state_dict(state, strict=True)
    x = torch.randn(1, 3, 288, 320)  # every stage wider than a window
    with torch.no_grad():
        for a, b in zip(ours.extract_feat(x), theirs.extract_feat(x)):
            torch.testing.assert_close(a, b, rtol=0, atol=1e-4)
    unsharded = read_checkpoint(
        str(runs['unsharded'][0] / f'iter_{ITERS}.pth'))['state_dict']
    unsharded = {k[len('module.'):]: v for k, v in unsharded.items()}
    assert list(unsharded) == list(state)
    for key, value in state.items():
        torch.testing.assert_close(
            value.float(), unsharded[key].float(), rtol=0, atol=1e-3)


def test_resume_continues_a_sharded_run_as_an_unsharded_one_resumes(
        runs, toy_root, tmp_path):
    """Resumed from iteration 2 (model, optimizer and scheduler state of a
    whole checkpoint), the sharded run goes on with the losses of the
    unsharded run resumed the same way. Both differ slightly from the
    uninterrupted run: mmengine seeds anew when it resumes, so the RoI
    samplers draw other proposals."""
    sharded_work, sharded_log = runs['sharded']
    unsharded_work, _ = runs['unsharded']
    sharded = _train(
        toy_root,
        tmp_path / 'sharded',
        '--sharded',
        resume=str(sharded_work / 'iter_2.pth'))
    unsharded = _train(
        toy_root,
        tmp_path / 'unsharded',
        config=unsharded_work / 'unsharded.py',
        resume=str(unsharded_work / 'iter_2.pth'))
    assert 'Resume checkpoint from' in sharded
    a, b = logged_losses(sharded), logged_losses(unsharded)
    assert len(a) == len(b) == ITERS - 2
    assert a == pytest.approx(b, rel=1e-3), (a, b)
    assert a == pytest.approx(logged_losses(sharded_log)[2:], rel=1e-2)


def test_sharding_composes_with_checkpointing_and_frozen_stages(
        runs, toy_root, tmp_path):
    """with_cp and frozen_stages=1 under sharding: the first iteration's
    loss (before any update) is the plain sharded run's, and the ranks hold
    no gradients or optimizer state for the frozen stage."""
    config = tmp_path / 'cp_frozen.py'
    config.write_text(f"_base_ = ['{DET_CFG}']\n"
                      'model = dict(backbone=dict(with_cp=True, '
                      'frozen_stages=1))\n')
    log = _train(toy_root, tmp_path / 'work', '--sharded', config=config)
    plain = runs['sharded'][1]
    assert logged_losses(log)[0] == pytest.approx(
        logged_losses(plain)[0], rel=1e-5)
    frozen, full = _held(log), _held(plain)
    for rank in (0, 1):
        params, grads, optimizer = frozen[rank]
        assert params == full[rank][0]
        assert grads < full[rank][1] and optimizer < full[rank][2]

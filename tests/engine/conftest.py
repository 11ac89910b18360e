"""A small toy dataset and runners for the tools, in subprocesses."""
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from swin_mm.datasets import ToySpec, generate_toy_dataset

ROOT = Path(__file__).parents[2]
DET_CFG = ROOT / 'configs/toy/mask-rcnn_swin-toy-p4-w7_fpn_toy-coco.py'
SEG_CFG = ROOT / 'configs/toy/upernet_swin-toy-p4-w7_toy-seg.py'


@pytest.fixture(scope='session')
def toy_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('toy')
    generate_toy_dataset(str(root), ToySpec(num_train=8, num_val=4, seed=1))
    return root


def small_run_options(root: Path, iters: int, det: bool = True) -> list:
    """--cfg-options that point a toy config at ``root`` and shorten it."""
    data = f'{root}/'
    # The toy detection set is wrapped for copy-paste (MultiImageMixDataset).
    train = 'train_dataloader.dataset' + ('.dataset' if det else '')
    opts = [
        f'{train}.data_root={data}',
        f'val_dataloader.dataset.data_root={data}',
        f'test_dataloader.dataset.data_root={data}',
        'train_dataloader.batch_size=2',
        'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'val_dataloader.num_workers=0',
        'val_dataloader.persistent_workers=False',
        'test_dataloader.num_workers=0',
        'test_dataloader.persistent_workers=False',
        f'train_cfg.max_iters={iters}',
        f'train_cfg.val_interval={iters}',
        f'default_hooks.checkpoint.interval={iters}',
        'default_hooks.logger.interval=1',
        'param_scheduler.0.end=3',  # short warm-up for a short run
    ]
    if det:
        ann = f'{data}annotations/instances_val.json'
        opts += [
            f'val_evaluator.ann_file={ann}', f'test_evaluator.ann_file={ann}'
        ]
    else:
        # The toy UperNet starts from `make main`'s detector; tests train
        # it from scratch.
        opts.append('model.backbone.init_cfg=None')
    return opts


def run_tool(*args, env=None, timeout=600) -> subprocess.CompletedProcess:
    full_env = {**os.environ, 'OMP_NUM_THREADS': '2', **(env or {})}
    runner = ['bash'] if str(args[0]).endswith('.sh') else [sys.executable]
    out = subprocess.run([*runner, *map(str, args)],
                         cwd=ROOT,
                         capture_output=True,
                         text=True,
                         env=full_env,
                         timeout=timeout)
    return out


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def logged_losses(text: str) -> list:
    """Total losses of every logged training iteration, in order."""
    return [
        float(m) for m in re.findall(r'Iter\(train\).*?\sloss: ([\d.]+)', text)
    ]

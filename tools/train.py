"""Train a detector or segmentor with a swin_mm backbone.

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp]
                                 [--cfg-options k=v ...] [--launcher pytorch]
                                 [--sharded]

MMDetection or MMSegmentation is chosen by the config's default_scope.
Multi-process: tools/dist_train.sh (torchrun); without CUDA it uses gloo.
"""
import argparse

import torch

from swin_mm.engine import make_sharded
from swin_mm.engine.launch import add_common_args, load_config, prepare_runner


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='train config file')
    parser.add_argument(
        '--resume',
        nargs='?',
        const='auto',
        metavar='CKPT',
        help='resume from CKPT, or from the latest checkpoint in the work '
        'dir when no path is given')
    parser.add_argument(
        '--amp',
        action='store_true',
        help='automatic mixed precision (needs CUDA)')
    parser.add_argument(
        '--sharded',
        action='store_true',
        help='shard parameters, gradients and optimizer state over the '
        "processes (PyTorch FSDP through mmengine's FlexibleRunner; one "
        'unit per Swin block); with --launcher pytorch')
    add_common_args(parser)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    cfg = load_config(args.config, args.cfg_options, args.work_dir,
                      args.launcher)
    if args.amp:
        if not torch.cuda.is_available():
            raise SystemExit('--amp needs a CUDA device; none is available')
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.loss_scale = 'dynamic'
    if args.sharded:
        make_sharded(cfg)
    if args.resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif args.resume:
        cfg.resume, cfg.load_from = True, args.resume
    prepare_runner(cfg, ('train', 'val')).train()


if __name__ == '__main__':
    main()

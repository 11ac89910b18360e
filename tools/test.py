"""Evaluate a trained detector or segmentor checkpoint (COCO mAP / mIoU).

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR]
                         [--cfg-options k=v ...] [--launcher pytorch]
"""
import argparse

from mmengine.config import DictAction

from swin_mm.engine.launch import (build_runner, check_data_paths,
                                   load_config, setup_cpu_distributed)
from swin_mm.engine.safe_checkpoint import allow_mmengine_checkpoints


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='test config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='where logs and metrics go')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries, key=value')
    parser.add_argument('--launcher', default='none',
                        choices=['none', 'pytorch', 'slurm', 'mpi'])
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    cfg = load_config(args.config, args.cfg_options, args.work_dir,
                      args.launcher)
    cfg.load_from = args.checkpoint
    check_data_paths(cfg, ('test', ))
    setup_cpu_distributed(cfg)
    allow_mmengine_checkpoints()
    metrics = build_runner(cfg).test()
    print({k: round(float(v), 4) for k, v in metrics.items()})


if __name__ == '__main__':
    main()

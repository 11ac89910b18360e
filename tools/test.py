"""Evaluate a trained detector or segmentor checkpoint (COCO mAP / mIoU).

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out FILE]
                         [--show] [--show-dir DIR] [--wait-time S] [--tta]
                         [--cfg-options k=v ...] [--launcher pytorch]
                         [--backbone-runtime {pytorch,onnxruntime,openvino}
                          [--precision {f32,bf16,int8}] [--model FILE]]

The checkpoint may be a whole model of any supported layout: a model-zoo
detector or segmentor of MMDetection / MMSegmentation or of the official
Swin repositories loads into a config with a swin_mm backbone.

``--backbone-runtime`` runs the backbone (and the neck, where the model
file holds it) in ONNX Runtime or OpenVINO, or in PyTorch bf16, and the
rest of the model in PyTorch: the metrics of the model as deployed. The
file (``--model``; by default the checkpoint's backbone + neck, exported)
is checked against the checkpoint first. See docs/deployment.md.
"""
import argparse

from swin_mm.engine.launch import (add_common_args, add_test_args,
                                   apply_test_args, load_config,
                                   prepare_runner)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='test config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    add_test_args(parser)
    add_common_args(parser)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    cfg = load_config(args.config, args.cfg_options, args.work_dir,
                      args.launcher)
    cfg.load_from = args.checkpoint
    apply_test_args(cfg, args)
    metrics = prepare_runner(cfg, ('test', )).test()
    print({k: round(float(v), 4) for k, v in metrics.items()})


if __name__ == '__main__':
    main()

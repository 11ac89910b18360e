"""Quantize a config's swin_mm backbone (+ neck) to int8 for OpenVINO with
NNCF, calibrated on images of the config's own dataset.

    python tools/deployment/quantize.py CONFIG CHECKPOINT --out DIR
        [--calib 64] [--split {train,val}] [--backbone-only]
        [--cfg-options k=v ...]

Writes DIR/backbone_neck.onnx (or backbone.onnx: the f32 export, dynamic
batch, height and width) and DIR/backbone_neck_int8.xml / .bin (OpenVINO
IR, int8, the same dynamic sizes), and prints which matrix products run
in int8 and which stay in float. Evaluate the result with

    python tools/test.py CONFIG CHECKPOINT --backbone-runtime openvino \\
        --precision int8 --model DIR/backbone_neck_int8.xml

Calibration images: ``--calib`` images of ``--split`` (default train, so
that evaluation images are not calibration images), read by the config's
test pipeline and the model's data preprocessor. See docs/deployment.md.
"""
import argparse
import os
import os.path as osp
import time

from mmengine.config import DictAction

import swin_mm  # noqa: F401  (registers swin_mm.* and its loaders)
from swin_mm.deploy import BackboneWithNeck, export_onnx
from swin_mm.deploy.quantize import (calibration_inputs, precision_report,
                                     quantize, require_nncf)
from swin_mm.deploy.runtimes import require
from swin_mm.engine.launch import build_model, load_config


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='config file or mmdet::/mmseg:: name')
    parser.add_argument('checkpoint', help='whole-model checkpoint')
    parser.add_argument('--out', required=True, help='output folder')
    parser.add_argument(
        '--calib', type=int, default=64, help='calibration images')
    parser.add_argument(
        '--split',
        choices=('train', 'val'),
        default='train',
        help='dataset split the calibration images come from')
    parser.add_argument(
        '--backbone-only',
        action='store_true',
        help='quantize the backbone alone (default: backbone + neck, '
        'where the model has a neck)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings (key=value), e.g. a data root')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    openvino = require('openvino')  # both before any work
    require_nncf()
    cfg = load_config(args.config, args.cfg_options)
    model = build_model(cfg, args.checkpoint)
    neck = None if args.backbone_only else getattr(model, 'neck', None)
    module = BackboneWithNeck(model.backbone, neck) if neck else model.backbone
    name = 'backbone_neck' if neck else 'backbone'
    os.makedirs(args.out, exist_ok=True)
    onnx_file = export_onnx(module, osp.join(args.out, f'{name}.onnx'))
    print(f'wrote {onnx_file} (f32, dynamic batch, height, width)')
    start = time.perf_counter()
    inputs = calibration_inputs(cfg, model, args.calib, args.split)
    sizes = sorted({x.shape[2:] for x in inputs})
    print(f'{len(inputs)} calibration images of the {args.split} split, '
          f'sizes {sizes[:4]}{" ..." if len(sizes) > 4 else ""}')
    quantized = quantize(onnx_file, inputs)
    int8_file = osp.join(args.out, f'{name}_int8.xml')
    openvino.save_model(quantized, int8_file)
    print(f'wrote {int8_file} (int8, dynamic batch, height, width) in '
          f'{time.perf_counter() - start:.0f} s')
    report = precision_report(quantized)
    for precision, kinds in report.items():
        print(f'  {precision}: {sum(kinds.values())} matrix products {kinds}')


if __name__ == '__main__':
    main()

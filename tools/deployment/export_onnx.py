"""Export a config's swin_mm backbone (optionally with its neck) as ONE ONNX
file with dynamic batch, height and width.

    python tools/deployment/export_onnx.py CONFIG [CHECKPOINT] --out FILE
        [--with-neck] [--opset 18] [--verify]

CONFIG: a detector or segmentor config with a swin_mm backbone (or a
``mmdet::`` / ``mmseg::`` config name); CHECKPOINT: with ``--with-neck`` a
whole-model checkpoint of any supported layout, without it any checkpoint
holding the backbone (a detector, segmentor or ImageNet classifier, any
layout: only the backbone's weights are read). Without a checkpoint: the
config's own initialisation, e.g. its pretrained backbone. ``--verify``
runs the file in ONNX Runtime at a few sizes and prints the largest
difference from PyTorch. See docs/deployment.md.
"""
import argparse

import torch

import swin_mm  # noqa: F401  (registers swin_mm.* and its loaders)
from swin_mm.deploy import BackboneWithNeck, export_onnx
from swin_mm.engine.launch import build_model

VERIFY_SIZES = ((1, 224, 224), (2, 511, 511), (1, 112, 137))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='config file or mmdet::/mmseg:: name')
    parser.add_argument(
        'checkpoint', nargs='?', help='checkpoint holding the backbone')
    parser.add_argument('--out', required=True, help='output .onnx file')
    parser.add_argument(
        '--with-neck', action='store_true', help='backbone + neck')
    parser.add_argument('--opset', type=int, default=18)
    parser.add_argument(
        '--verify',
        action='store_true',
        help='compare ONNX Runtime with PyTorch at a few sizes')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    model = build_model(
        args.config, args.checkpoint, backbone_only=not args.with_neck)
    if args.with_neck:
        if getattr(model, 'neck', None) is None:
            raise SystemExit(f'{args.config}: the model has no neck; drop '
                             '--with-neck to export the backbone alone.')
        module = BackboneWithNeck(model.backbone, model.neck)
    else:
        module = model.backbone
    export_onnx(module, args.out, opset=args.opset)
    print(f'wrote {args.out} (dynamic batch, height, width; opset '
          f'{args.opset})')
    if args.verify:
        import onnxruntime
        session = onnxruntime.InferenceSession(
            args.out, providers=['CPUExecutionProvider'])
        channels = session.get_inputs()[0].shape[1]
        for batch, h, w in VERIFY_SIZES:
            x = torch.randn(batch, channels, h, w)
            with torch.no_grad():
                expected = module(x)
            got = session.run(None, {'image': x.numpy()})
            diff = max(
                float(abs(e.numpy() - g).max()) for e, g in zip(expected, got))
            print(f'  {batch}x{channels}x{h}x{w}: max abs diff {diff:.1e}')


if __name__ == '__main__':
    main()

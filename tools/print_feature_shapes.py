"""Run a swin_mm backbone on one image and print its four feature maps.

Builds ``swin_mm.SwinTransformer`` through MMDetection's registry (as a
config would), runs an image through it and prints each stage's shape and
stride (``make features``).

    python tools/print_feature_shapes.py [--arch tiny] [--size 800 1333]
"""
import argparse
import time

import torch
from mmengine.registry import init_default_scope


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        '--arch', default='tiny', choices=['tiny', 'small', 'base', 'large'])
    parser.add_argument(
        '--size',
        type=int,
        nargs=2,
        default=(800, 1333),
        metavar=('H', 'W'),
        help='input image size')
    parser.add_argument('--image', help='an image file (default: random)')
    return parser.parse_args()


def load_image(path: str, size) -> torch.Tensor:
    """An image file as a normalized (1, 3, H, W) tensor, resized."""
    import mmcv
    img = mmcv.imresize(
        mmcv.imread(path, channel_order='rgb'),
        (size[1], size[0])).astype('float32')
    mean = torch.tensor([123.675, 116.28, 103.53])
    std = torch.tensor([58.395, 57.12, 57.375])
    return ((torch.from_numpy(img) - mean) / std).permute(2, 0,
                                                          1)[None]  # 1,3,H,W


def main() -> None:
    args = parse_args()
    init_default_scope('mmdet')
    from mmdet.registry import MODELS
    model = MODELS.build(dict(type='swin_mm.SwinTransformer', arch=args.arch))
    model.init_weights()
    model.eval()
    x = (
        load_image(args.image, args.size) if args.image else torch.randn(
            1, 3, *args.size))
    start = time.perf_counter()
    with torch.no_grad():
        outs = model(x)
    elapsed = time.perf_counter() - start
    print(f'swin_mm.SwinTransformer arch={args.arch}, input '
          f'{tuple(x.shape)}, {elapsed:.2f} s on CPU '
          f'({torch.get_num_threads()} threads)')
    for i, out in enumerate(outs):
        stride = x.shape[-1] / out.shape[-1]
        print(f'  stage {i + 1}: {tuple(out.shape)}  stride ~{stride:.0f}')


if __name__ == '__main__':
    main()

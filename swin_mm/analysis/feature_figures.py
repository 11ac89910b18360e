"""A PNG grid of a swin_mm backbone's four feature maps for one image.

One row per stage (stride 4, 8, 16, 32): the channel mean, then the
channels with the largest mean activation. Without --image a toy image from
the embedded dataset generator is used; without --checkpoint the weights are
randomly initialised (the maps then show structure, not semantics). The
backbone is a preset (--arch) or the one of a config (--config), e.g. a
detector trained by tools/train.py and its checkpoint:

    python tools/analysis/visualize_features.py --image demo.jpg \\
        --checkpoint swin_tiny_patch4_window7_224.pth --out features.png
    python tools/analysis/visualize_features.py \\
        --config configs/toy/mask-rcnn_swin-toy-p4-w7_fpn_toy-coco.py \\
        --checkpoint work_dirs/toy_mask_rcnn/iter_1800.pth
"""
import argparse
import os

import numpy as np
import torch
from matplotlib.figure import Figure

from swin_mm.models import SwinTransformer

MEAN = np.array([123.675, 116.28, 103.53], np.float32)
STD = np.array([58.395, 57.12, 57.375], np.float32)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog='\n'.join(__doc__.splitlines()[2:]))
    parser.add_argument('--image', help='image file (default: a toy image)')
    parser.add_argument(
        '--arch', default='tiny', choices=sorted(SwinTransformer.arch_zoo))
    parser.add_argument('--window-size', type=int, default=7)
    parser.add_argument(
        '--config',
        help="take the backbone from this "
        "config's model.backbone instead of --arch")
    parser.add_argument(
        '--checkpoint', help='backbone weights (any layout '
        'swin_mm loads)')
    parser.add_argument(
        '--size',
        type=int,
        nargs=2,
        default=(256, 256),
        metavar=('H', 'W'),
        help='resize the image to this')
    parser.add_argument(
        '--top',
        type=int,
        default=4,
        help='strongest channels shown per stage')
    parser.add_argument('--out', default='work_dirs/features.png')
    args = parser.parse_args(argv)
    if args.image and not os.path.isfile(args.image):
        parser.error(f'--image {args.image!r}: no such file')
    if args.config and not os.path.isfile(args.config):
        parser.error(f'--config {args.config!r}: no such file')
    if args.checkpoint and not os.path.isfile(args.checkpoint):
        parser.error(f'--checkpoint {args.checkpoint!r}: no such file')
    if min(args.size) < 32:
        parser.error(f'--size must be at least 32 x 32 (stride 32 at the '
                     f'last stage), got {args.size}')
    if args.top < 0:
        parser.error(f'--top must be >= 0, got {args.top}')
    return args


def load_image(path, size) -> np.ndarray:
    """An RGB uint8 image of ``size`` (H, W): the file, or a toy image."""
    import mmcv
    if path:
        image = mmcv.imread(path, channel_order='rgb')
    else:
        from swin_mm.datasets.toy import ToySpec, render
        image = render(np.random.default_rng(0), ToySpec())[0]
    return mmcv.imresize(image, (size[1], size[0]))


def build_backbone(args: argparse.Namespace) -> SwinTransformer:
    """The preset of --arch, or model.backbone of --config."""
    if not args.config:
        return SwinTransformer(args.arch, window_size=args.window_size)
    from mmengine.config import Config

    from swin_mm.registry import MODELS
    backbone = Config.fromfile(args.config).model.backbone
    if not str(backbone.get('type', '')).startswith('swin_mm.'):
        raise SystemExit(f'{args.config}: model.backbone is '
                         f"{backbone.get('type')!r}, not a swin_mm backbone")
    backbone = dict(backbone, type=backbone['type'].split('.', 1)[1])
    backbone.pop('init_cfg', None)  # weights come from --checkpoint
    backbone.pop('pretrained', None)
    return MODELS.build(backbone)


def stage_features(model: SwinTransformer, image: np.ndarray):
    """The backbone's outputs for one RGB image: list of (C, h, w)."""
    x = (image.astype(np.float32) - MEAN) / STD
    x = torch.from_numpy(x).permute(2, 0, 1)[None]  # 1, 3, H, W
    with torch.no_grad():
        return [out[0] for out in model.eval()(x)]


def plot(image: np.ndarray, features, top: int, path: str) -> None:
    cols = 2 + top
    fig = Figure(figsize=(2.2 * cols, 2.3 * len(features)))
    axes = fig.subplots(len(features), cols, squeeze=False)
    H = image.shape[0]
    for row, (feature, ax_row) in enumerate(zip(features, axes)):
        C, h, w = feature.shape
        ax_row[0].imshow(image)
        ax_row[0].set_title(f'stage {row + 1}: stride {H // h}', fontsize=8)
        ax_row[1].imshow(feature.mean(0).numpy(), cmap='magma')
        ax_row[1].set_title(f'mean of {C} ch, {h}x{w}', fontsize=8)
        strongest = feature.flatten(1).mean(1).argsort(descending=True)
        for k, ax in enumerate(ax_row[2:]):
            channel = int(strongest[k])
            ax.imshow(feature[channel].numpy(), cmap='magma')
            ax.set_title(f'channel {channel}', fontsize=8)
        for ax in ax_row:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main(argv=None) -> str:
    args = parse_args(argv)
    torch.manual_seed(0)
    model = build_backbone(args)
    if args.checkpoint:
        from swin_mm.checkpoint import load_pretrained
        load_pretrained(model, args.checkpoint)
    else:
        model.init_weights()
    image = load_image(args.image, args.size)
    features = stage_features(model, image)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    plot(image, features, min(args.top, min(f.shape[0] for f in features)),
         args.out)
    print(f'wrote {args.out}: ' + ', '.join(f'stage {i + 1} {tuple(f.shape)}'
                                            for i, f in enumerate(features)))
    return args.out

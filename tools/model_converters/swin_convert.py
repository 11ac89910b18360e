"""Convert a Swin checkpoint between layouts.

Reads any supported layout (official Microsoft classifier or detection /
segmentation checkpoint, MMDetection / MMSegmentation / MMPretrain, timm,
torchvision, swin_mm's earlier layout; 'backbone.' / 'module.' prefixes
stripped, necks and heads dropped) and writes the backbone's weights with
swin_mm's keys (default: OpenMMLab's tree, which MMDetection's and
MMSegmentation's Swin, or MMPretrain's Swin V2, load as they are) or back in
the official layout. Key mapping only: window and image size adaptation
happens when a model loads the result.

Checkpoints are read with torch.load(weights_only=True): a file holding
arbitrary pickled objects is refused, because unpickling it could run code.
--allow-unsafe-unpickle lifts that for files you trust completely.

Examples:
    python tools/model_converters/swin_convert.py \\
        swin_tiny_patch4_window7_224.pth swin_mm_tiny.pth
    python tools/model_converters/swin_convert.py --to official \\
        swin_mm_tiny.pth swin_tiny_official_layout.pth
"""
import argparse
import sys
from collections import Counter

import torch

from swin_mm.checkpoint import (CheckpointError, convert_state_dict,
                                extract_state_dict, read_checkpoint,
                                to_official)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        epilog=__doc__.split('\n\n', 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('src', help='input checkpoint (path or http(s) URL)')
    parser.add_argument('dst', help='output .pth path')
    parser.add_argument(
        '--to',
        choices=['swin_mm', 'official'],
        default='swin_mm',
        help="output layout: swin_mm's keys (default; OpenMMLab's), or the "
        'official detection backbone layout (layers.*, norm0..3)')
    parser.add_argument(
        '--use-ema',
        action='store_true',
        help="convert the checkpoint's EMA weights")
    parser.add_argument(
        '--allow-unsafe-unpickle',
        action='store_true',
        help='unpickle in full (can execute code in the file): only for '
        'files you trust completely')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        checkpoint = read_checkpoint(
            args.src, allow_unsafe_unpickle=args.allow_unsafe_unpickle)
        weights = extract_state_dict(checkpoint, args.use_ema)
        state_dict, layout, ignored, dropped = convert_state_dict(weights)
    except (CheckpointError, FileNotFoundError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    if args.to == 'official':
        state_dict = to_official(state_dict)
    torch.save(
        {
            'state_dict': state_dict,
            'meta': {
                'source': args.src,
                'source_layout': layout,
                'layout': args.to
            }
        }, args.dst)

    params = sum(v.numel() for v in state_dict.values())
    groups = Counter(k.split('.')[0] for k in state_dict)
    print(f'{args.src}: detected layout {layout!r}')
    print(f'  wrote {len(state_dict)} tensors ({params / 1e6:.2f}M values) '
          f'in the {args.to} layout to {args.dst}')
    print('  by top-level module: ' +
          ', '.join(f'{k} {n}' for k, n in sorted(groups.items())))
    print(f'  left out: {len(ignored)} classifier head / final norm / '
          f'derived buffers, {dropped} non-backbone (neck, heads)')
    return 0


if __name__ == '__main__':
    sys.exit(main())

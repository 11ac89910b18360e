"""Tile the first images of a folder into one picture.

    python tools/analysis/tile_images.py DIR OUT.png [--num 6] [--columns 2]

`make main` uses it on the drawn toy val predictions of
`tools/test.py --show-dir` (each image: ground truth left, prediction right).
"""
import argparse
import os.path as osp
from pathlib import Path

import cv2
import numpy as np

SUFFIXES = ('.png', '.jpg', '.jpeg')


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('folder', help='folder of images')
    parser.add_argument('out', help='picture to write (.png or .jpg)')
    parser.add_argument(
        '--num',
        type=int,
        default=6,
        help='images to tile, in file name order')
    parser.add_argument('--columns', type=int, default=2)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    paths = sorted(
        p for p in Path(args.folder).iterdir()
        if p.suffix.lower() in SUFFIXES)[:args.num]
    if not paths:
        raise SystemExit(f'No {"/".join(SUFFIXES)} images in {args.folder}')
    images = [cv2.imread(str(p)) for p in paths]
    height, width = images[0].shape[:2]
    images = [cv2.resize(im, (width, height)) for im in images]
    images += [np.zeros_like(images[0])] * (-len(images) % args.columns)
    rows = [
        np.hstack(images[i:i + args.columns])
        for i in range(0, len(images), args.columns)
    ]
    if not cv2.imwrite(args.out, np.vstack(rows)):
        raise SystemExit(f'Could not write {args.out}')
    print(f'{len(paths)} images of {args.folder} tiled into '
          f'{osp.abspath(args.out)}')


if __name__ == '__main__':
    main()

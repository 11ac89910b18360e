"""A seeded synthetic dataset for detection and segmentation smoke runs.

Each image shows 1-4 lightly textured shapes (circle, square, triangle),
each in a colour that contrasts with the image's blurred-noise background.
Later shapes occlude earlier ones; every annotation describes what is
visible:

- COCO instances (``annotations/instances_{split}.json``): tight bbox of the
  visible pixels, exact RLE of the visible mask, area, category.
- ADE-style label maps (``labels/{split}/*.png``): 0 = background,
  1 = circle, 2 = square, 3 = triangle.

Layout under ``root``::

    images/{train,val}/000000.jpg
    labels/{train,val}/000000.png
    annotations/instances_{train,val}.json
    meta.json            # generator settings; regenerated when they change
"""
import json
import os
import os.path as osp
from dataclasses import asdict, dataclass
from typing import Dict, List, Tuple

import cv2
import numpy as np
from pycocotools import mask as mask_utils

CLASSES = ('circle', 'square', 'triangle')
#: Visible fraction below which an occluded shape gets no instance label.
MIN_VISIBLE_FRACTION = 0.3
MIN_VISIBLE_PIXELS = 40


@dataclass(frozen=True)
class ToySpec:
    """What to generate; part of ``meta.json``."""
    num_train: int = 400
    num_val: int = 50
    size: int = 256
    max_shapes: int = 4
    min_side: int = 28
    max_side: int = 96
    seed: int = 0
    version: int = 2


def _texture(rng: np.random.Generator, size: int, blur: float,
             base: np.ndarray, amplitude: float) -> np.ndarray:
    """Smooth coloured noise around ``base``: (size, size, 3) float32."""
    noise = rng.normal(0, 1, (size, size, 3)).astype(np.float32)
    noise = cv2.GaussianBlur(noise, (0, 0), blur)
    noise /= noise.std() + 1e-6
    return base[None, None, :] + amplitude * noise


def _contrasting_colour(rng: np.random.Generator,
                        background: np.ndarray) -> np.ndarray:
    """A random RGB colour at least 100 away (L2) from the background's."""
    while True:
        colour = rng.uniform(0, 255, 3)
        if np.linalg.norm(colour - background) >= 100:
            return colour


def _shape_mask(rng: np.random.Generator, label: int, size: int,
                side: int) -> np.ndarray:
    """A filled shape at a random place: (size, size) uint8 mask."""
    mask = np.zeros((size, size), np.uint8)
    cx, cy = rng.integers(side // 2, size - side // 2, size=2)
    if label == 0:  # circle
        cv2.circle(mask, (int(cx), int(cy)), side // 2, 1, -1)
    elif label == 1:  # square, axis aligned
        h = side // 2
        cv2.rectangle(mask, (int(cx - h), int(cy - h)),
                      (int(cx + h), int(cy + h)), 1, -1)
    else:  # triangle, random rotation
        angle = rng.uniform(0, 2 * np.pi)
        corners = [(cx + side / 2 * np.cos(angle + k * 2 * np.pi / 3),
                    cy + side / 2 * np.sin(angle + k * 2 * np.pi / 3))
                   for k in range(3)]
        cv2.fillPoly(mask, [np.round(corners).astype(np.int32)], 1)
    return mask


def render(rng: np.random.Generator,
           spec: ToySpec) -> Tuple[np.ndarray, np.ndarray, List[Dict]]:
    """One image, its label map and its visible instances."""
    size = spec.size
    background = rng.uniform(60, 190, 3)
    image = _texture(
        rng, size, blur=rng.uniform(3, 8), base=background, amplitude=20)
    label_map = np.zeros((size, size), np.uint8)
    owner = np.full((size, size), -1, np.int32)  # top shape at each pixel
    shapes = []
    for index in range(int(rng.integers(1, spec.max_shapes + 1))):
        label = int(rng.integers(len(CLASSES)))
        mask = _shape_mask(rng, label, size,
                           int(rng.integers(spec.min_side, spec.max_side)))
        colour = _contrasting_colour(rng, background)
        fill = _texture(
            rng, size, blur=rng.uniform(1, 3), base=colour, amplitude=6)
        inside = mask.astype(bool)
        image[inside] = fill[inside]
        label_map[inside] = label + 1
        owner[inside] = index
        shapes.append((label, int(inside.sum())))

    instances = []
    for index, (label, full_area) in enumerate(shapes):
        visible = owner == index
        area = int(visible.sum())
        if area < max(MIN_VISIBLE_PIXELS, MIN_VISIBLE_FRACTION * full_area):
            continue
        ys, xs = np.nonzero(visible)
        x0, y0, x1, y1 = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
        rle = mask_utils.encode(np.asfortranarray(visible.astype(np.uint8)))
        instances.append(
            dict(
                category_id=label + 1,
                bbox=[float(x0),
                      float(y0),
                      float(x1 - x0),
                      float(y1 - y0)],
                area=float(area),
                segmentation=dict(
                    size=rle['size'], counts=rle['counts'].decode('ascii')),
                iscrowd=0))
    image = np.clip(image, 0, 255).astype(np.uint8)
    return image, label_map, instances


def _write_split(root: str, split: str, count: int, spec: ToySpec,
                 rng: np.random.Generator) -> None:
    for sub in ('images', 'labels'):
        os.makedirs(osp.join(root, sub, split), exist_ok=True)
    images, annotations = [], []
    for image_id in range(count):
        image, label_map, instances = render(rng, spec)
        name = f'{image_id:06d}'
        cv2.imwrite(
            osp.join(root, 'images', split, name + '.jpg'), image[:, :, ::-1],
            [cv2.IMWRITE_JPEG_QUALITY, 95])
        cv2.imwrite(osp.join(root, 'labels', split, name + '.png'), label_map)
        images.append(
            dict(
                id=image_id,
                file_name=name + '.jpg',
                height=spec.size,
                width=spec.size))
        for instance in instances:
            annotations.append(
                dict(id=len(annotations) + 1, image_id=image_id, **instance))
    coco = dict(
        images=images,
        annotations=annotations,
        categories=[
            dict(id=i + 1, name=name, supercategory='shape')
            for i, name in enumerate(CLASSES)
        ])
    os.makedirs(osp.join(root, 'annotations'), exist_ok=True)
    with open(osp.join(root, 'annotations', f'instances_{split}.json'),
              'w') as f:
        json.dump(coco, f)


def generate(root: str, spec: ToySpec = ToySpec()) -> bool:
    """Write the dataset under ``root`` unless it is already there with the
    same settings. Returns True if it was (re)generated."""
    meta_path = osp.join(root, 'meta.json')
    if osp.isfile(meta_path):
        with open(meta_path) as f:
            if json.load(f) == asdict(spec):
                return False
    rng = np.random.default_rng(spec.seed)
    _write_split(root, 'train', spec.num_train, spec, rng)
    _write_split(root, 'val', spec.num_val, spec, rng)
    with open(meta_path, 'w') as f:
        json.dump(asdict(spec), f)
    return True

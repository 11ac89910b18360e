"""What one rank holds to train a Swin backbone: parameters, gradients,
optimizer state and activations, unsharded or sharded (FSDP over N ranks),
with or without activation checkpointing (``with_cp``).

Parameters, gradients and optimizer state are counted from the built
backbone (fp32; AdamW keeps two moments per parameter, SGD with momentum
one). Activations are **measured**: one training step of the backbone at a
small size on this machine, counting every tensor autograd saves for
backward (each storage once), then scaled by pixel count to the config's
training size and batch per rank (Swin's memory is linear in tokens: window
attention, not global). Sharding splits parameters, gradients and
optimizer state over the ranks; activations stay per rank.

    python tools/analysis/memory_plan.py CONFIG [--ranks 1 8] [--sharded]
        [--with-cp] [--archs tiny small base large] [--v2]
"""
import argparse
import copy
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.config import Config

#: Bytes each parameter costs in the optimizer, by optimizer type (fp32).
OPTIMIZER_BYTES = {'AdamW': 8, 'Adam': 8, 'SGD': 4}
MEASURE_SIZE = (256, 256)


def saved_activation_bytes(model: nn.Module, x: torch.Tensor) -> int:
    """Bytes of the tensors autograd saves for backward in one forward of
    ``model`` on ``x`` (each storage counted once; parameters excluded)."""
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    seen: Dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in params:
            seen[storage.data_ptr()] = storage.nbytes()
        return tensor

    model.train()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        outs = model(x)
    del outs  # the graph, and what it saved
    return sum(seen.values())


#: Longest / shortest side of the images resizes are assumed to meet
#: (COCO's widest common aspect, 1333:800), where a resize keeps the ratio.
ASPECT = 1333 / 800


def training_size(cfg: Config) -> Tuple[int, int]:
    """(H, W) of the largest image the training pipeline makes: its
    transforms followed in order (every branch of a ``RandomChoice``, the
    largest kept), a ratio-keeping resize filling its scale with a
    landscape image of aspect at most 1333:800, a crop capping the size."""
    pipeline = cfg.train_dataloader.dataset.get('pipeline')
    dataset = cfg.train_dataloader.dataset
    while pipeline is None and 'dataset' in dataset:
        dataset = dataset.dataset
        pipeline = dataset.get('pipeline')
    size = _follow(pipeline or cfg.get('train_pipeline') or [], None)
    if size is None:
        raise ValueError('The training pipeline names no resize scale or '
                         'crop size; give --size H W')
    return size


def _resized(scale: Sequence[int],
             keep_ratio: bool,
             ratio: float = 1.) -> Tuple[int, int]:
    w, h = (int(v * ratio) for v in scale)
    if not keep_ratio:
        return h, w
    short, long = min(w, h), max(w, h)
    return short, min(long, int(short * ASPECT))


def _follow(transforms, size: Optional[Tuple[int, int]]):
    for t in transforms:
        if not isinstance(t, dict):
            continue
        if 'transforms' in t:  # RandomChoice: the largest branch
            branches = [
                _follow(b if isinstance(b, (list, tuple)) else [b], size)
                for b in t['transforms']
            ]
            branches = [b for b in branches if b is not None]
            if branches:
                size = max(branches, key=lambda s: s[0] * s[1])
            continue
        keep = t.get('keep_ratio', True)
        ratio = max(t.get('ratio_range') or (1., 1.))
        scales = t.get('scales') or t.get('scale') or t.get('img_scale')
        if scales is not None:
            scales = [scales] if _is_size(scales) else scales
            sizes = [_resized(s, keep, ratio) for s in scales if _is_size(s)]
            if sizes:
                size = max(sizes, key=lambda s: s[0] * s[1])
        crop = t.get('crop_size')
        if _is_size(crop) and size is not None:
            size = (min(size[0], crop[0]), min(size[1], crop[1]))
        elif _is_size(crop):
            size = tuple(crop)
    return size


def _is_size(value) -> bool:
    return (isinstance(value, (list, tuple)) and len(value) == 2
            and all(isinstance(v, int) for v in value))


def backbone_of(cfg: Config, arch: Optional[str], v2: bool) -> nn.Module:
    """The config's swin_mm backbone (or the toolkit's Swin config as
    swin_mm's), optionally with another arch and as Swin V2."""
    from swin_mm.models import SwinTransformer, SwinTransformerV2
    bb = copy.deepcopy(dict(cfg.model.backbone))
    bb.pop('type')
    bb.pop('init_cfg', None)
    bb.pop('pretrained', None)
    if arch is not None:
        for key in ('embed_dims', 'depths', 'num_heads'):
            bb.pop(key, None)
        bb['arch'] = arch
    if v2:
        for key in ('qk_scale', 'window_size', 'pretrain_img_size',
                    'use_abs_pos_embed', 'convert_weights', 'strides'):
            bb.pop(key, None)
        return SwinTransformerV2(**bb)
    return SwinTransformer(**bb)


def plan_rows(backbone: nn.Module, size: Tuple[int, int], batch: int,
              ranks: Iterable[int], optimizer: str,
              modes: Sequence[Tuple[bool, bool]]) -> List[dict]:
    """One row per (ranks, sharded, with_cp): bytes per rank."""
    params = sum(p.numel() for p in backbone.parameters() if p.requires_grad)
    per_param = OPTIMIZER_BYTES.get(optimizer)
    if per_param is None:
        raise ValueError(f'No optimizer-state size for {optimizer!r}; known: '
                         f'{sorted(OPTIMIZER_BYTES)}')
    x = torch.randn(1, backbone.in_channels, *MEASURE_SIZE)
    measured = {}
    for with_cp in sorted({cp for _, cp in modes}):
        for stage in backbone.stages:
            stage.with_cp = with_cp
        measured[with_cp] = saved_activation_bytes(backbone, x)
    scale = size[0] * size[1] * batch / (MEASURE_SIZE[0] * MEASURE_SIZE[1])
    rows = []
    for n in ranks:
        for sharded, with_cp in modes:
            share = n if sharded else 1
            rows.append(
                dict(
                    ranks=n,
                    sharded=sharded,
                    with_cp=with_cp,
                    params=4 * params / share,
                    grads=4 * params / share,
                    optimizer=per_param * params / share,
                    activations=measured[with_cp] * scale))
    return rows


def markdown(rows: List[dict], title: str) -> str:
    gib = 2**30
    lines = [
        f'{title}', '',
        '| ranks | sharded | with_cp | params | grads | optimizer | '
        'activations | total |', '|---|---|---|---|---|---|---|---|'
    ]
    for r in rows:
        total = r['params'] + r['grads'] + r['optimizer'] + r['activations']
        lines.append(
            f"| {r['ranks']} | {'yes' if r['sharded'] else 'no'} | "
            f"{'yes' if r['with_cp'] else 'no'} | "
            f"{r['params'] / gib:.2f} | {r['grads'] / gib:.2f} | "
            f"{r['optimizer'] / gib:.2f} | {r['activations'] / gib:.2f} | "
            f'{total / gib:.2f} |')
    return '\n'.join(lines)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        epilog=__doc__.split('\n\n', 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config')
    parser.add_argument('--ranks', type=int, nargs='+', default=[1, 8])
    parser.add_argument(
        '--sharded', action='store_true', help='only sharded rows')
    parser.add_argument(
        '--with-cp', action='store_true', help='only with_cp rows')
    parser.add_argument(
        '--archs',
        nargs='+',
        choices=['tiny', 'small', 'base', 'large'],
        help="other presets than the config's")
    parser.add_argument('--v2', action='store_true', help='as Swin V2')
    parser.add_argument(
        '--size',
        type=int,
        nargs=2,
        metavar=('H', 'W'),
        help='training image size (default: from the training pipeline)')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    from swin_mm.engine.launch import load_config
    args = parse_args(argv)
    cfg = load_config(args.config)
    size = tuple(args.size) if args.size else training_size(cfg)
    batch = cfg.train_dataloader.batch_size
    optimizer = cfg.optim_wrapper.optimizer.type
    modes = [(False, False), (True, False), (True, True)]
    if args.sharded:
        modes = [m for m in modes if m[0]]
    if args.with_cp:
        modes = [m for m in modes if m[1]]
    torch.manual_seed(0)
    for arch in args.archs or [None]:
        backbone = backbone_of(cfg, arch, args.v2)
        name = ('Swin V2 ' if args.v2 else 'Swin ') + (
            arch or f'C={backbone.embed_dims}, depths {backbone.depths}')
        params = sum(p.numel() for p in backbone.parameters())
        title = (f'{name} ({params / 1e6:.1f}M parameters), {size[0]}x'
                 f'{size[1]}, batch {batch} per rank, {optimizer}; GiB per '
                 'rank, backbone only (activations measured at '
                 f'{MEASURE_SIZE[0]}x{MEASURE_SIZE[1]} on this machine, '
                 'scaled by pixels)')
        rows = plan_rows(backbone, size, batch, args.ranks, optimizer, modes)
        print(markdown(rows, title), end='\n\n')
        del backbone
    return 0

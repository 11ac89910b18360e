"""The backbones' arguments: presets, validation, and the names and options
MMDetection's and MMSegmentation's ``SwinTransformer`` take, so that their
configs build a swin_mm backbone by changing ``type`` alone.

Every check fails when the backbone is built, naming what was expected,
never later inside ``forward``.
"""
from typing import Any, Dict, Optional, Sequence, Tuple, Union

from mmengine.logging import print_log

from swin_mm.checkpoint import pretrained_kwargs

#: The paper's presets (V2 uses the same).
ARCH_ZOO: Dict[str, dict] = {
    'tiny': dict(embed_dims=96, depths=(2, 2, 6, 2), num_heads=(3, 6, 12, 24)),
    'small':
    dict(embed_dims=96, depths=(2, 2, 18, 2), num_heads=(3, 6, 12, 24)),
    'base':
    dict(embed_dims=128, depths=(2, 2, 18, 2), num_heads=(4, 8, 16, 32)),
    'large':
    dict(embed_dims=192, depths=(2, 2, 18, 2), num_heads=(6, 12, 24, 48)),
}


def resolve_arch(arch: Union[str, dict], embed_dims: Optional[int],
                 depths: Optional[Sequence[int]],
                 num_heads: Optional[Sequence[int]]) -> dict:
    """Preset values, overridden by explicit arguments, validated:
    ``dict(embed_dims, depths, num_heads)``."""
    if isinstance(arch, str):
        if arch not in ARCH_ZOO:
            raise ValueError(f'Unknown arch {arch!r}; choose one of '
                             f'{sorted(ARCH_ZOO)} or pass a dict with '
                             'embed_dims, depths and num_heads.')
        cfg = dict(ARCH_ZOO[arch])
    elif isinstance(arch, dict):
        cfg = dict(arch)
    else:
        raise TypeError(
            f'arch must be a str or dict, got {type(arch).__name__}')
    for key, value in (('embed_dims', embed_dims), ('depths', depths),
                       ('num_heads', num_heads)):
        if value is not None:
            cfg[key] = value
    missing = {'embed_dims', 'depths', 'num_heads'} - set(cfg)
    if missing:
        raise ValueError(f'arch is missing {sorted(missing)}')
    depths, num_heads = tuple(cfg['depths']), tuple(cfg['num_heads'])
    if len(depths) != len(num_heads):
        raise ValueError(
            f'depths and num_heads need one entry per stage, got '
            f'len(depths)={len(depths)} and len(num_heads)={len(num_heads)}')
    if not depths or any(d < 1 for d in depths):
        raise ValueError(f'depths must be positive, got {depths}')
    for i, heads in enumerate(num_heads):
        dims = cfg['embed_dims'] * 2**i
        if heads < 1 or dims % heads:
            raise ValueError(
                f'stage {i} has {dims} channels, which {heads} heads do not '
                'divide; num_heads[i] must divide embed_dims * 2**i')
    return dict(
        embed_dims=cfg['embed_dims'], depths=depths, num_heads=num_heads)


def check_strides(strides: Optional[Sequence[int]], patch_size: int,
                  num_stages: int) -> None:
    """MMDetection's ``strides``: only the paper's are supported."""
    if strides is None:
        return
    supported = (patch_size, ) + (2, ) * (num_stages - 1)
    if tuple(strides) != supported:
        raise ValueError(
            f'strides={tuple(strides)} is not supported: the patch embedding '
            f'downsamples by patch_size ({patch_size}) and each patch merging '
            f'by 2, i.e. strides={supported}')


def check_out_indices(out_indices: Union[int, Sequence[int]],
                      num_stages: int) -> Tuple[int, ...]:
    """Stage indices (negative ones from the end), increasing, unique."""
    if isinstance(out_indices, int):
        out_indices = (out_indices, )
    out_indices = tuple(i + num_stages if i < 0 else i for i in out_indices)
    if not out_indices or any(not 0 <= i < num_stages for i in out_indices):
        raise ValueError(
            f'out_indices must be stage indices in [0, {num_stages - 1}] (or '
            f'negative from the end), got {out_indices}')
    if list(out_indices) != sorted(set(out_indices)):
        raise ValueError(
            f'out_indices must be increasing and unique, got {out_indices}')
    return out_indices


def check_frozen_stages(frozen_stages: int, num_stages: int) -> int:
    if not -1 <= frozen_stages <= num_stages:
        raise ValueError(
            f'frozen_stages must be in [-1, {num_stages}] (-1: none, 0: patch '
            f'embedding, k: up to stage k), got {frozen_stages}')
    return frozen_stages


def check_window_size(window_size: Any) -> int:
    if not (isinstance(window_size, int) and window_size >= 1):
        raise ValueError(
            f'window_size must be a positive int, got {window_size!r}')
    return window_size


def pretrain_grid(pretrain_img_size: Union[int, Sequence[int]],
                  patch_size: int) -> Tuple[int, int]:
    """The (rows, columns) of patches of the pre-training image, which size
    the absolute position embedding."""
    size = ((pretrain_img_size, pretrain_img_size) if isinstance(
        pretrain_img_size, int) else tuple(pretrain_img_size))
    if len(size) != 2 or any(not isinstance(s, int) or s < patch_size
                             for s in size):
        raise ValueError(
            'pretrain_img_size must be an int or (height, width) of ints '
            f'>= patch_size ({patch_size}), got {pretrain_img_size!r}')
    return size[0] // patch_size, size[1] // patch_size


def legacy_arguments(pretrained: Optional[str], init_cfg: Optional[dict],
                     fused_attention: Optional[bool], fast_path: bool,
                     convert_weights: Optional[bool]) -> Tuple[Any, bool]:
    """The toolkits' and earlier swin_mm names, mapped to the current ones:
    ``(init_cfg, fast_path)``. Bad ``Pretrained`` options fail here."""
    if pretrained is not None:
        if init_cfg is not None:
            raise ValueError('Give either pretrained or init_cfg, not both.')
        if not isinstance(pretrained, str):
            raise TypeError('pretrained must be a path or URL string, got '
                            f'{type(pretrained).__name__}')
        print_log(
            'SwinTransformer: pretrained= is deprecated, using '
            f"init_cfg=dict(type='Pretrained', checkpoint={pretrained!r})",
            logger='current')
        init_cfg = dict(type='Pretrained', checkpoint=pretrained)
    if fused_attention is not None:
        print_log(
            'SwinTransformer: fused_attention is deprecated, use '
            f'fast_path={fused_attention}',
            logger='current',
            level=30)
        fast_path = fused_attention
    if convert_weights is not None:
        print_log(
            'SwinTransformer: convert_weights is not needed: swin_mm detects '
            'the checkpoint layout (official, OpenMMLab, timm, torchvision) '
            'when loading.',
            logger='current')
    if is_pretrained(init_cfg):
        pretrained_kwargs(init_cfg)
    return init_cfg, fast_path


def is_pretrained(init_cfg: Any) -> bool:
    """Whether ``init_cfg`` is ``dict(type='Pretrained', ...)``."""
    return isinstance(init_cfg, dict) and init_cfg.get('type') == 'Pretrained'

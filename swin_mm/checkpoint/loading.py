"""Load any public Swin checkpoint into a swin_mm backbone, safely.

Checkpoints are untrusted input: they are unpickled with
``torch.load(weights_only=True)``, which refuses any object but tensors and
plain containers, so a crafted file cannot run code. ``allow_unsafe_unpickle``
turns that off for a file you trust completely: full unpickling executes
whatever the file says.

Two ways in, one conversion:

- :func:`load_pretrained` (the backbone's ``init_cfg=dict(type='Pretrained',
  ...)``): read the file (path or URL) -> pick the weights ('state_dict',
  'model', or an EMA copy when asked) -> strip ``module.`` / ``backbone.``
  prefixes (dropping a detector's neck and heads) -> detect the layout and
  convert keys -> resize what depends on window or image size -> load, and
  report matched / missing / unexpected keys.
- :func:`convert_backbone_keys`, which the backbone's
  ``_load_from_state_dict`` calls whenever a state dict is loaded into it or
  into a model holding it (the runner's ``load_from`` and ``resume``,
  ``mmengine.runner.load_checkpoint``, ``model.load_state_dict``): the keys
  under the backbone's prefix are converted in place, so a whole detector or
  segmentor checkpoint of any layout (an MMDetection / MMSegmentation model
  zoo file, the official detection / segmentation repositories') loads into
  a model with a swin_mm backbone.

A checkpoint that does not fit the model is an error naming the keys, never
a silent random init; loading only what fits takes an explicit option.
"""
import contextlib
import contextvars
import os
import pickle
import re
import urllib.error
import zipfile
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Mapping, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.logging import print_log

from .layouts import (StateDict, detect_layout, is_v2, not_backbone_weight,
                      to_tree, tokens_to_grid)


class CheckpointError(RuntimeError):
    """A checkpoint could not be read or does not fit the model."""


_EMA_KEYS = ('state_dict_ema', 'model_ema', 'ema_state_dict', 'ema')
_WEIGHT_KEYS = ('state_dict', 'model', 'module', 'model_state')
# Keys of a detector/segmentor that are not the backbone (neck, heads, ...).
_PREFIXES = ('module.', 'backbone.')


def _is_url(name: str) -> bool:
    return name.startswith(('http://', 'https://'))


def _download(url: str) -> str:
    """Download ``url`` once into torch's hub cache; return the local path."""
    cache = os.path.join(torch.hub.get_dir(), 'checkpoints')
    os.makedirs(cache, exist_ok=True)
    path = os.path.join(cache, os.path.basename(url.split('?')[0]))
    if not os.path.isfile(path):
        print_log(f'Downloading {url} to {path}', logger='current')
        try:
            torch.hub.download_url_to_file(url, path, progress=True)
        except (urllib.error.URLError, OSError, ValueError) as e:
            raise CheckpointError(
                f'Could not download checkpoint {url}: {e}') from e
    return path


def read_checkpoint(filename: str,
                    map_location: str = 'cpu',
                    allow_unsafe_unpickle: bool = False) -> Any:
    """Read a checkpoint file or URL with weights-only unpickling (plus
    the few types of mmengine's training checkpoints, see
    the process-wide allowance of
    :mod:`swin_mm.checkpoint.safe_unpickling`).

    Raises:
        FileNotFoundError: no such file.
        CheckpointError: unreachable URL, unreadable/truncated file, or a
            file holding objects that weights-only loading refuses.
    """
    path = _download(filename) if _is_url(filename) else filename
    if not os.path.isfile(path):
        raise FileNotFoundError(f'Checkpoint file not found: {path}')
    try:
        return torch.load(
            path,
            map_location=map_location,
            weights_only=not allow_unsafe_unpickle)
    except pickle.UnpicklingError as e:
        refused = re.search(r'Unsupported global: GLOBAL (\S+)', str(e))
        if refused is None:  # a damaged stream, not a refused object
            raise CheckpointError(
                f'{path} is not a readable PyTorch checkpoint (truncated or '
                f'corrupt?): {str(e).splitlines()[-1][:300]}') from e
        raise CheckpointError(
            f'{path} holds an object ({refused.group(1)}) that weights-only '
            'loading refuses: only tensors and plain containers are read. '
            'Checkpoints are untrusted input, and unpickling them in full '
            'can run arbitrary code. Only if you trust this file completely, '
            'pass allow_unsafe_unpickle=True.') from e
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError) as e:
        raise CheckpointError(
            f'{path} is not a readable PyTorch checkpoint (truncated or '
            f'corrupt?): {e}') from e


def extract_state_dict(checkpoint: Any, use_ema: bool = False) -> StateDict:
    """The weights inside a checkpoint: its EMA copy only when asked."""
    if not isinstance(checkpoint, Mapping):
        raise CheckpointError(
            f'Expected a checkpoint dict, got {type(checkpoint).__name__}')
    if use_ema:
        for key in _EMA_KEYS:
            if isinstance(checkpoint.get(key), Mapping):
                return dict(checkpoint[key])
        raise CheckpointError(
            'use_ema=True but the checkpoint has no EMA weights (looked for '
            f'{list(_EMA_KEYS)}; it has {sorted(checkpoint)[:10]})')
    for key in _WEIGHT_KEYS:
        if isinstance(checkpoint.get(key), Mapping):
            return dict(checkpoint[key])
    return dict(checkpoint)


def strip_prefixes(state_dict: Mapping[str, Any]) -> Tuple[StateDict, int]:
    """Remove ``module.`` and (possibly repeated) ``backbone.`` prefixes.

    When some keys carry ``backbone.``, the checkpoint is a whole detector or
    segmentor: only the backbone's keys are kept.

    Returns:
        The backbone state dict and the number of non-backbone keys dropped.
    """

    def strip(key: str) -> str:
        while key.startswith(_PREFIXES):
            key = key[key.index('.') + 1:]
        return key

    tensors = {
        k: v
        for k, v in state_dict.items() if isinstance(v, torch.Tensor)
    }
    is_detector = any(re.match(r'^(module\.)*backbone\.', k) for k in tensors)
    out = {}
    for key, value in tensors.items():
        if is_detector and not re.match(r'^(module\.)*backbone\.', key):
            continue
        out[strip(key)] = value
    return out, len(state_dict) - len(out)


def resize_relative_position_bias_table(table: torch.Tensor,
                                        length: int) -> torch.Tensor:
    """Bicubically resize a ((2M-1)^2, heads) table to ``length`` rows,
    one (2M-1) x (2M-1) image per head, as the official code does."""
    old_len, heads = table.shape
    old, new = int(round(old_len**0.5)), int(round(length**0.5))
    grid = table.T.reshape(1, heads, old, old)  # 1, heads, 2M-1, 2M-1
    grid = F.interpolate(
        grid.float(), size=(new, new), mode='bicubic', align_corners=False)
    return grid.reshape(heads, length).T.to(table.dtype)  # length, heads


def _adapt_sizes(state_dict: StateDict, model: nn.Module,
                 model_state: Mapping[str, torch.Tensor]) -> List[str]:
    """Resize bias tables and the absolute position embedding in place to
    the model's window and image size, and take the model's own derived
    buffers (relative position index, V2's coordinate table: functions of
    its window sizes); return the resized keys."""
    for key, value in model_state.items():
        if not_backbone_weight(key):
            state_dict[key] = value
    resized = []
    for key, value in state_dict.items():
        target = model_state.get(key)
        if target is None or value.shape == target.shape:
            continue
        if (key.endswith('relative_position_bias_table')
                and value.shape[1] == target.shape[1]):
            state_dict[key] = resize_relative_position_bias_table(
                value, target.shape[0])
            resized.append(key)
        elif (key == 'absolute_pos_embed' and value.dim() == 3
              and value.shape[2] == target.shape[2]):
            state_dict[key] = resize_position_embedding(
                value, model.pos_embed_grid)
            resized.append(key)
    return resized


def resize_position_embedding(pos_embed: torch.Tensor,
                              grid: Tuple[int, int]) -> torch.Tensor:
    """Bicubically resize a (1, L, C) absolute position embedding of a
    square grid to a (rows, columns) grid: (1, rows * columns, C)."""
    try:
        pos = tokens_to_grid(pos_embed)  # 1, C, h, w
    except ValueError as e:
        raise CheckpointError(f'{e}, to resize it') from e
    pos = F.interpolate(
        pos.float(), size=grid, mode='bicubic', align_corners=False)
    return pos.flatten(2).transpose(1, 2).to(pos_embed.dtype)  # 1, L', C


def _match(
    state_dict: StateDict, model_state: Mapping[str, torch.Tensor]
) -> Tuple[StateDict, List[str], List[str], List[str]]:
    """Split converted weights by how they fit the model.

    Returns:
        (loadable weights, unexpected keys, shape mismatches as text,
        model keys the loadable weights lack).
    """
    loadable, unexpected, mismatched = {}, [], []
    for key, value in state_dict.items():
        if key not in model_state:
            unexpected.append(key)
        elif value.shape != model_state[key].shape:
            mismatched.append(f'{key}: checkpoint {tuple(value.shape)} vs '
                              f'model {tuple(model_state[key].shape)}')
        else:
            loadable[key] = value
    missing = [k for k in model_state if k not in loadable]
    return loadable, unexpected, mismatched, missing


@dataclass
class LoadReport:
    """What :func:`load_pretrained` did."""
    source: str
    layout: str
    matched: List[str] = field(default_factory=list)
    missing: List[str] = field(default_factory=list)
    unexpected: List[str] = field(default_factory=list)
    shape_mismatched: List[str] = field(default_factory=list)
    resized: List[str] = field(default_factory=list)
    ignored: List[str] = field(default_factory=list)
    dropped_non_backbone: int = 0

    def summary(self) -> str:
        text = (f'Loaded {self.source} (layout: {self.layout}): '
                f'{len(self.matched)} matched, {len(self.missing)} missing, '
                f'{len(self.unexpected)} unexpected, {len(self.resized)} '
                f'resized, {len(self.ignored)} ignored (classifier head / '
                f'final norm / derived buffers)')
        if self.dropped_non_backbone:
            text += (f', {self.dropped_non_backbone} non-backbone keys '
                     '(neck, heads) skipped')
        if self.missing:
            text += f'; missing: {_first(self.missing)}'
        return text


def _first(keys: List[str], n: int = 5) -> str:
    more = f' ... (+{len(keys) - n})' if len(keys) > n else ''
    return ', '.join(keys[:n]) + more


def convert_state_dict(
        state_dict: Mapping[str, Any],
        tree: Optional[str] = None) -> Tuple[StateDict, str, List[str], int]:
    """Any supported checkpoint's weights -> swin_mm's backbone keys.

    Args:
        state_dict: The checkpoint's weights.
        tree: swin_mm's parameter tree to write ('openmmlab' for V1,
            'openmmlab_v2' for V2); by default the one of the weights'
            version.

    Returns:
        (converted state dict, detected layout, keys the layout conversion
        ignored, number of non-backbone keys dropped).
    """
    backbone, dropped = strip_prefixes(state_dict)
    layout = detect_layout(backbone)
    if layout == 'unknown':
        raise CheckpointError(
            'Not a Swin Transformer checkpoint of a known layout (official, '
            'OpenMMLab, timm, torchvision, swin_mm); first keys: '
            f'{_first(sorted(backbone))}')
    if tree is None:
        tree = 'openmmlab_v2' if is_v2(backbone) else 'openmmlab'
    converted = to_tree(backbone, layout, tree)
    ignored = [k for k in backbone if not_backbone_weight(k)]
    return converted, layout, ignored, dropped


def load_pretrained(model: nn.Module,
                    checkpoint: str,
                    *,
                    map_location: str = 'cpu',
                    use_ema: bool = False,
                    allow_unsafe_unpickle: bool = False,
                    allow_partial: bool = False,
                    prefix: Optional[str] = None,
                    logger: Optional[str] = 'current') -> LoadReport:
    """Load a Swin checkpoint of any supported layout into ``model``.

    Args:
        model: A swin_mm backbone.
        checkpoint: Path or http(s) URL.
        map_location: Passed to ``torch.load``.
        use_ema: Load the checkpoint's EMA weights instead of the raw ones.
        allow_unsafe_unpickle: Unpickle in full (runs any code the file
            holds). Only for files you trust completely.
        allow_partial: Load what fits and only warn about unexpected or
            mis-shaped keys (by default they are an error).
        prefix: Keep only keys under this prefix (e.g. ``'model.encoder.'``),
            stripped; ``module.`` / ``backbone.`` are stripped anyway.

    Raises:
        CheckpointError: the file cannot be read, or it does not fit the
            model (another model or architecture).
    """
    raw = read_checkpoint(checkpoint, map_location, allow_unsafe_unpickle)
    weights = extract_state_dict(raw, use_ema)
    if prefix:
        weights = {
            k[len(prefix):]: v
            for k, v in weights.items() if k.startswith(prefix)
        }
        if not weights:
            raise CheckpointError(
                f'No key of {checkpoint} starts with prefix {prefix!r}')
    state_dict, layout, ignored, dropped = convert_state_dict(
        weights, model.parameter_tree)
    model_state = model.state_dict()
    resized = _adapt_sizes(state_dict, model, model_state)

    loadable, unexpected, mismatched, missing = _match(state_dict, model_state)
    report = LoadReport(
        source=checkpoint,
        layout=layout,
        matched=list(loadable),
        missing=missing,
        unexpected=unexpected,
        shape_mismatched=mismatched,
        resized=resized,
        ignored=ignored,
        dropped_non_backbone=dropped)

    problems = []
    if len(report.matched) < len(model_state) / 2:
        problems.append(f'only {len(report.matched)} of {len(model_state)} '
                        'model tensors match')
    if report.shape_mismatched and not allow_partial:
        problems.append(
            f'shape mismatches: {_first(report.shape_mismatched, 3)}')
    if report.unexpected and not allow_partial:
        problems.append('keys the model does not have: '
                        f'{_first(report.unexpected)}')
    if problems:
        raise CheckpointError(
            f'Checkpoint {checkpoint} (detected layout: {layout}) does not '
            f'fit {type(model).__name__}: ' + '; '.join(problems) +
            '. Is it another model or architecture (check arch, depths, '
            'embed_dims, use_abs_pos_embed)?')

    # The output norms of a classifier checkpoint (and, with allow_partial,
    # whatever did not fit) are missing: that was judged above.
    with partial_loading():
        model.load_state_dict(loadable, strict=False)
    print_log(report.summary(), logger=logger)
    if report.unexpected or report.shape_mismatched:
        print_log(
            'Not loaded (allow_partial=True): '
            f'{_first(report.unexpected + report.shape_mismatched)}',
            logger=logger,
            level=30)
    return report


def pretrained_kwargs(init_cfg: Dict[str, Any]) -> Dict[str, Any]:
    """Options of ``init_cfg=dict(type='Pretrained', ...)`` for
    :func:`load_pretrained`; unknown options are an error."""
    allowed = {
        'checkpoint', 'map_location', 'use_ema', 'allow_unsafe_unpickle',
        'allow_partial', 'prefix'
    }
    unknown = set(init_cfg) - allowed - {'type'}
    if unknown:
        raise ValueError(f'Unknown Pretrained init_cfg options '
                         f'{sorted(unknown)}; allowed: {sorted(allowed)}')
    if 'checkpoint' not in init_cfg:
        raise ValueError("init_cfg type 'Pretrained' needs 'checkpoint'")
    return {k: v for k, v in init_cfg.items() if k != 'type'}


# Loading through the backbone's _load_from_state_dict ------------------------
_PARTIAL = contextvars.ContextVar('swin_mm_partial_loading', default=False)


@contextlib.contextmanager
def partial_loading() -> Iterator[None]:
    """Within this context, a state dict that does not cover a swin_mm
    backbone loads what fits (the rest keeps its current values, with a
    warning) instead of raising; the backbone's ``allow_partial_load=True``
    does the same for every load."""
    token = _PARTIAL.set(True)
    try:
        yield
    finally:
        _PARTIAL.reset(token)


def convert_backbone_keys(model: nn.Module,
                          state_dict: Dict[str, Any],
                          prefix: str,
                          allow_partial: bool = False) -> str:
    """Convert, in place, the keys of ``state_dict`` under ``prefix`` (the
    backbone's own, e.g. ``'backbone.'`` in a detector) to swin_mm's layout.

    The layout is detected as in :func:`convert_state_dict`; bias tables
    and the absolute position embedding are resized to the model.

    Raises:
        CheckpointError: no key under ``prefix``, a layout that is not a
            known Swin's, or, unless ``allow_partial`` (or
            :func:`partial_loading`), weights that do not cover the model
            exactly: missing, unexpected or mis-shaped keys, all named.

    Returns:
        The detected layout.
    """
    keys = [k for k in state_dict if k.startswith(prefix)]
    where = f'under {prefix!r}' if prefix else 'in the state dict'
    name = type(model).__name__
    allow_partial = allow_partial or _PARTIAL.get()
    if not keys:
        if allow_partial:
            return 'none'
        raise CheckpointError(
            f'The checkpoint holds no weights for the {name} backbone (no '
            f'key {where}). Is it a checkpoint of another model, or of the '
            'backbone alone (then use init_cfg=dict(type=\'Pretrained\', '
            '...) on the backbone)? To load it anyway and keep the '
            'backbone as initialised, set allow_partial_load=True on the '
            'backbone.')
    weights = {k[len(prefix):]: state_dict[k] for k in keys}
    try:
        converted, layout, _, _ = convert_state_dict(weights,
                                                     model.parameter_tree)
    except CheckpointError as e:
        raise CheckpointError(f'The checkpoint\'s weights {where} cannot '
                              f'load into {name}: {e}') from e
    converted = {
        k: v
        for k, v in converted.items() if not not_backbone_weight(k)
    }
    if _sharded(model):
        _replace_keys(state_dict, keys, prefix,
                      _with_own_buffers(converted, model))
        return layout
    model_state = model.state_dict()
    resized = _adapt_sizes(converted, model, model_state)
    loadable, unexpected, mismatched, missing = _match(converted, model_state)
    problems = [
        f'{label}: {_first(found)}'
        for label, found in (('missing', missing), ('unexpected', unexpected),
                             ('shape mismatches', mismatched)) if found
    ]
    if problems and not allow_partial:
        raise CheckpointError(
            f'The checkpoint\'s weights {where} (layout: {layout}) do not '
            f'fit {name}: ' + '; '.join(problems) + '. Is it another '
            'architecture (check arch, depths, embed_dims, window_size, '
            'use_abs_pos_embed)? To load only what fits, set '
            'allow_partial_load=True on the backbone.')
    _replace_keys(state_dict, keys, prefix, loadable)
    if layout != model.parameter_tree or resized:
        print_log(
            f'{name} {where}: {len(loadable)} weights read from the '
            f'{layout} layout' +
            (f', resized: {_first(resized)}' if resized else ''),
            logger='current')
    if problems:
        print_log(
            f'{name} {where}: loading what fits; ' + '; '.join(problems),
            logger='current',
            level=30)
    return layout


def _replace_keys(state_dict: Dict[str, Any], keys: List[str], prefix: str,
                  weights: Mapping[str, torch.Tensor]) -> None:
    for key in keys:
        del state_dict[key]
    state_dict.update((prefix + k, v) for k, v in weights.items())


def _sharded(model: nn.Module) -> bool:
    """Whether FSDP shards the backbone's blocks (sharded training)."""
    from torch.distributed.fsdp import FullyShardedDataParallel
    return any(
        isinstance(m, FullyShardedDataParallel) for m in model.modules())


def _with_own_buffers(weights: StateDict, model: nn.Module) -> StateDict:
    """A sharded backbone's weights plus its own derived buffers. Its
    parameters are shards and its whole state dict is gathered on rank 0
    only, so the fit is left to FSDP's and the runner's loading: the keys
    are converted, not checked or resized here (load a checkpoint of
    another window or image size before sharding, e.g. by ``init_cfg``)."""
    from swin_mm.engine.sharding import unsharded_name
    out = dict(weights)
    for name, buffer in model.named_buffers():
        name = unsharded_name(name)
        if not_backbone_weight(name):
            out[name] = buffer
    return out

"""What tools/train.py and tools/test.py share: config loading for either
toolkit, CPU-only distributed set-up, data path checks, the runner."""
import argparse
import importlib
import json
import os
import os.path as osp
from typing import Iterable, Optional, Union

import torch
import torch.distributed as dist
from mmengine.config import Config, DictAction

TOOLKITS = ('mmdet', 'mmseg')


def add_common_args(parser: argparse.ArgumentParser) -> None:
    """The options tools/train.py and tools/test.py share."""
    parser.add_argument('--work-dir', help='where logs and outputs go')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config entries, key=value')
    parser.add_argument(
        '--launcher',
        default='none',
        choices=['none', 'pytorch', 'slurm', 'mpi'])
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def add_test_args(parser: argparse.ArgumentParser) -> None:
    """The options of MMDetection's and MMSegmentation's tools/test.py."""
    parser.add_argument(
        '--out',
        help='raw results: a .pkl file of the predictions '
        '(MMDetection configs) or a folder of predicted label maps '
        '(MMSegmentation configs)')
    parser.add_argument(
        '--show',
        action='store_true',
        help='show each drawn prediction in a window')
    parser.add_argument(
        '--show-dir',
        help='draw each image with its ground truth and '
        'prediction side by side into this folder (relative to the work '
        "dir's timestamped run folder unless absolute)")
    parser.add_argument(
        '--wait-time',
        type=float,
        default=2,
        help='seconds each shown image stays (--show)')
    parser.add_argument(
        '--tta',
        action='store_true',
        help="test-time augmentation with the config's tta_model and "
        'tta_pipeline')
    parser.add_argument(
        '--backbone-runtime',
        choices=('pytorch', 'onnxruntime', 'openvino'),
        help='run the backbone (and neck, where the model file holds it) '
        'in this runtime, the rest in PyTorch (docs/deployment.md)')
    parser.add_argument(
        '--precision',
        choices=('f32', 'bf16', 'int8'),
        default='f32',
        help='precision of --backbone-runtime (int8: a file quantized by '
        'tools/deployment/quantize.py)')
    parser.add_argument(
        '--model',
        help='the exported or quantized backbone (+ neck) file that '
        '--backbone-runtime runs (default: export the checkpoint\'s)')


def apply_test_args(cfg: Config, args: argparse.Namespace) -> None:
    """Apply :func:`add_test_args`' options to a test config, as the
    toolkit of the config's ``default_scope`` does in its own tools."""
    if args.show or args.show_dir:
        _enable_visualization(cfg, args.show, args.show_dir, args.wait_time)
    if args.tta:
        missing = [k for k in ('tta_model', 'tta_pipeline') if k not in cfg]
        if missing:
            raise ValueError(
                f'--tta needs {" and ".join(missing)} in the config (the '
                'test-time augmentation wrapper and its pipeline); this '
                'config defines none')
        cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
        cfg.model = dict(cfg.tta_model, module=cfg.model)
    if args.backbone_runtime:
        cfg.custom_hooks = [
            *cfg.get('custom_hooks', []),
            dict(
                type='swin_mm.BackboneRuntimeHook',
                runtime=args.backbone_runtime,
                precision=args.precision,
                model_file=args.model)
        ]
    elif args.precision != 'f32' or args.model:
        raise ValueError('--precision and --model apply to the backbone '
                         'runtime: give --backbone-runtime too')
    if args.out:
        if cfg.default_scope == 'mmdet':
            if not args.out.endswith(('.pkl', '.pickle')):
                raise ValueError(
                    f'--out {args.out}: MMDetection results are written as '
                    'a pickle; give a .pkl file')
            evaluators = cfg.test_evaluator
            if not isinstance(evaluators, (list, tuple)):
                evaluators = [evaluators]
            cfg.test_evaluator = [
                *evaluators,
                dict(type='DumpDetResults', out_file_path=args.out)
            ]
        else:
            cfg.test_evaluator['output_dir'] = args.out
            cfg.test_evaluator['keep_results'] = True


def _enable_visualization(cfg: Config, show: bool, show_dir: Optional[str],
                          wait_time: float) -> None:
    """Turn on the toolkit's visualization hook for testing (added where
    the config has none)."""
    det = cfg.default_scope == 'mmdet'
    hooks = cfg.get('default_hooks') or {}
    hook = dict(
        hooks.get('visualization') or
        dict(type='DetVisualizationHook' if det else 'SegVisualizationHook'))
    hook['draw'] = True
    if show:
        hook.update(show=True, wait_time=wait_time)
    if show_dir and det:
        hook['test_out_dir'] = show_dir
    elif show_dir:
        cfg.visualizer['save_dir'] = show_dir
    cfg.default_hooks = {**hooks, 'visualization': hook}


def prepare_runner(cfg: Config, phases: Iterable[str]):
    """Check the data of ``phases``, set up (CPU) distributed training and
    build the runner."""
    check_data_paths(cfg, phases)
    setup_cpu_distributed(cfg)
    return build_runner(cfg)


def load_config(path: str,
                cfg_options: Optional[dict] = None,
                work_dir: Optional[str] = None,
                launcher: str = 'none') -> Config:
    """Read a config of MMDetection or MMSegmentation (chosen by its
    ``default_scope``) and fill in launcher and work dir.

    ``path`` is a file, or a config shipped with a toolkit, named as in
    ``_base_``: ``mmdet::swin/mask-rcnn_swin-t-p4-w7_fpn_1x_coco.py``.
    """
    path = _shipped_config_path(path) if '::' in path else path
    if not osp.isfile(path):
        raise FileNotFoundError(f'Config file not found: {path}')
    cfg = Config.fromfile(path)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    scope = cfg.get('default_scope')
    if scope not in TOOLKITS:
        raise ValueError(
            f'{path} has default_scope={scope!r}; swin_mm tools run '
            f"{' or '.join(TOOLKITS)} configs (inherit an mmdet:: or mmseg:: "
            'base, which sets it)')
    cfg.launcher = launcher
    cfg.work_dir = (
        work_dir or cfg.get('work_dir')
        or osp.join('work_dirs',
                    osp.splitext(osp.basename(path))[0]))
    return cfg


def _shipped_config_path(name: str) -> str:
    """``mmdet::REL`` / ``mmseg::REL`` -> the file in that toolkit's wheel."""
    package, relative = name.split('::', 1)
    if package not in TOOLKITS:
        raise ValueError(f'{name}: configs shipped with '
                         f"{' or '.join(TOOLKITS)} can be named as "
                         "'mmdet::REL' or 'mmseg::REL'")
    root = osp.dirname(importlib.import_module(package).__file__)
    return osp.join(root, '.mim', 'configs', relative)


def setup_cpu_distributed(cfg: Config) -> None:
    """Let a CPU-only torchrun job train with gloo.

    mmengine's ``init_dist`` calls ``torch.cuda.set_device`` and its runner
    gives DDP ``device_ids``; both fail without CUDA. So without CUDA this
    joins the process group itself (gloo, env:// from torchrun; the runner
    then skips its own init) and picks a wrapper that drops device_ids.
    """
    if cfg.launcher == 'none' or torch.cuda.is_available():
        return
    if cfg.launcher != 'pytorch':
        raise ValueError(f'On CPU only --launcher pytorch (torchrun) is '
                         f'supported, got {cfg.launcher!r}')
    if not dist.is_initialized():
        dist.init_process_group(backend='gloo')
    cfg.env_cfg.setdefault('dist_cfg', {})['backend'] = 'gloo'
    wrapper = dict(cfg.get('model_wrapper_cfg') or {})
    wrapper.setdefault('type', 'swin_mm.CPUDistributedDataParallel')
    wrapper.setdefault('broadcast_buffers', False)
    wrapper.setdefault('find_unused_parameters',
                       cfg.get('find_unused_parameters', False))
    cfg.model_wrapper_cfg = wrapper


def _datasets(dataset_cfg: dict) -> Iterable[dict]:
    """A dataset config and the ones it wraps (Repeat/Concat/ClassBalanced)."""
    if 'dataset' in dataset_cfg:
        yield from _datasets(dataset_cfg['dataset'])
    elif 'datasets' in dataset_cfg:
        for sub in dataset_cfg['datasets']:
            yield from _datasets(sub)
    else:
        yield dataset_cfg


def check_data_paths(cfg: Config, phases: Iterable[str]) -> None:
    """Fail early, naming the path, when a dataset's root, image folders or
    annotation file is missing or the annotation file does not parse."""
    for phase in phases:
        loader = cfg.get(f'{phase}_dataloader')
        if not loader:
            continue
        for dataset in _datasets(loader['dataset']):
            root = dataset.get('data_root') or ''
            if root and not osp.isdir(root):
                raise FileNotFoundError(
                    f'{phase} data root not found: {root} (dataset '
                    f"{dataset.get('type')}; see the config's data_root)")
            for prefix in (dataset.get('data_prefix') or {}).values():
                folder = osp.join(root, prefix)
                if prefix and not osp.isdir(folder):
                    raise FileNotFoundError(
                        f'{phase} data folder not found: {folder}')
            ann_file = dataset.get('ann_file') or ''
            if ann_file:
                _check_annotation_file(osp.join(root, ann_file), phase)


def _check_annotation_file(path: str, phase: str) -> None:
    if not osp.isfile(path):
        raise FileNotFoundError(f'{phase} annotation file not found: {path}')
    if path.endswith('.json'):
        try:
            with open(path) as f:
                json.load(f)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ValueError(
                f'{phase} annotation file {path} does not parse as JSON: '
                f'{e}') from e


def build_runner(cfg: Config):
    """The toolkit's runner (``runner_type`` if the config names one)."""
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner
    os.makedirs(cfg.work_dir, exist_ok=True)
    if 'runner_type' in cfg:
        return RUNNERS.build(cfg)
    return Runner.from_cfg(cfg)


def build_model(config: Union[str, Config],
                checkpoint: Optional[str] = None,
                backbone_only: bool = False) -> torch.nn.Module:
    """A config's whole model (``config``: a file, a ``mmdet::`` /
    ``mmseg::`` name, or a loaded config) in eval mode, weights loaded.

    With ``backbone_only`` only the backbone's weights are read (by
    :func:`swin_mm.checkpoint.load_pretrained`: a detector, segmentor or
    ImageNet checkpoint of any layout; its neck and heads, if any, are
    skipped; the rest of the model is left as built); otherwise the
    checkpoint must be a whole model of the config's architecture (any
    layout). Without a checkpoint: the config's own initialisation.
    """
    from mmengine.registry import init_default_scope
    from mmengine.runner import load_checkpoint

    from swin_mm.checkpoint import load_pretrained
    cfg = load_config(config) if isinstance(config, str) else config
    init_default_scope(cfg.default_scope)
    registry = importlib.import_module(f'{cfg.default_scope}.registry')
    model = registry.MODELS.build(cfg.model)
    if not checkpoint:
        model.init_weights()
    elif backbone_only:
        load_pretrained(model.backbone, checkpoint)
    else:
        load_checkpoint(model, checkpoint, map_location='cpu', strict=True)
    return model.eval()

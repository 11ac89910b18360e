"""A detector or segmentor whose backbone (and neck) runs in another
runtime or precision, the rest in PyTorch: what ``tools/test.py
--backbone-runtime`` evaluates.

The model file is checked against the model before it is used: the same
number of maps with the same channels as the backbone (or backbone +
neck), and the same values on a probe input within the precision's
tolerance, so a file exported from other weights is refused, not
evaluated.
"""
import os
import os.path as osp
from typing import List, Optional

import numpy as np
import torch
import torch.nn as nn

from .export import BackboneWithNeck, export_onnx
from .runtimes import (Autocast, PassThrough, RuntimeModule, check_runtime,
                       file_signature, runner_for)

#: Largest relative difference (max over maps of ||file - model|| /
#: ||model||) between the file and the model's own PyTorch fp32 on the
#: probe, by precision: above it the file holds other weights.
TOLERANCE = {'f32': 1e-3, 'bf16': 0.05, 'int8': 0.25}

#: The probe: batch 2, 96 x 128 (several windows at the first stages).
PROBE_SHAPE = (2, 96, 128)


def _relative_error(got: List[np.ndarray], ref: List[np.ndarray]) -> float:
    return max(
        float(np.linalg.norm(g - r) / max(np.linalg.norm(r), 1e-12))
        for g, r in zip(got, ref))


def _probe(in_channels: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    batch, h, w = PROBE_SHAPE
    return torch.randn(batch, in_channels, h, w, generator=generator)


def _maps(module: nn.Module, x: torch.Tensor) -> List[np.ndarray]:
    with torch.no_grad():
        return [m.float().numpy() for m in module(x)]


def _match(signature, backbone_maps, neck_maps, file: str) -> bool:
    """True if the file computes backbone + neck, False if the backbone
    alone; raises where it matches neither."""
    in_channels, outputs = signature

    def fits(maps) -> bool:
        return maps is not None and len(maps) == len(outputs) and all(
            c is None or c == m.shape[1] for c, m in zip(outputs, maps))

    if neck_maps is not None and fits(neck_maps):
        return True
    if fits(backbone_maps):
        return False
    expected = f'backbone: {[m.shape[1] for m in backbone_maps]}'
    if neck_maps is not None:
        expected += f'; backbone + neck: {[m.shape[1] for m in neck_maps]}'
    raise ValueError(
        f"{file} does not match the config's model: its outputs have "
        f'channels {outputs}, the model gives ({expected}). Export the file '
        'from this config (tools/deployment/export_onnx.py or quantize.py).')


def run_backbone_in(model: nn.Module,
                    runtime: str,
                    precision: str = 'f32',
                    model_file: Optional[str] = None,
                    export_dir: Optional[str] = None,
                    threads: Optional[int] = None) -> str:
    """Make ``model`` (a detector or segmentor with a ``backbone`` and
    optionally a ``neck``) run its backbone (and neck) in ``runtime`` at
    ``precision``; returns a one-line description of what runs where.
    The model is left in eval mode.

    Args:
        model: The model, weights loaded.
        runtime: 'pytorch', 'onnxruntime' or 'openvino'.
        precision: 'f32', 'bf16' or 'int8' (int8: a quantized file).
        model_file: An ONNX or OpenVINO IR file of the backbone, or of
            backbone + neck (told apart by its outputs). Without it the
            model's own backbone (+ neck) is exported to ``export_dir``.
        export_dir: Where to write that export.
        threads: Runtime threads (default: PyTorch's).
    """
    check_runtime(runtime, precision)
    model.eval()  # the probe must not see drop path or dropout
    backbone = model.backbone
    neck = getattr(model, 'neck', None)
    if runtime == 'pytorch':
        if model_file:
            raise ValueError(
                f'--model {model_file}: the pytorch runtime runs the '
                "checkpoint's own modules; a model file runs in onnxruntime "
                'or openvino.')
        if precision == 'bf16':
            model.backbone = Autocast(backbone)
            if neck is not None:
                model.neck = Autocast(neck)
        return f'backbone{" + neck" if neck is not None else ""} in ' \
               f'PyTorch {precision}'
    if precision == 'int8' and not model_file:
        raise ValueError(
            'int8 needs a quantized model file: run tools/deployment/'
            'quantize.py CONFIG CHECKPOINT --out DIR and pass the .xml it '
            'writes as --model.')
    in_channels = backbone.in_channels
    x = _probe(in_channels)
    backbone_maps = _maps(backbone, x)
    neck_module = None if neck is None else BackboneWithNeck(backbone, neck)
    neck_maps = None if neck_module is None else _maps(neck_module, x)
    if not model_file:
        if not export_dir:
            raise ValueError('export_dir is needed to export the model')
        name = 'backbone_neck.onnx' if neck_module else 'backbone.onnx'
        os.makedirs(export_dir, exist_ok=True)
        model_file = export_onnx(neck_module or backbone,
                                 osp.join(export_dir, name))
    signature = file_signature(model_file)
    if signature[0] not in (None, in_channels):
        raise ValueError(
            f'{model_file} takes {signature[0]}-channel images; the '
            f"config's backbone takes {in_channels}.")
    with_neck = _match(signature, backbone_maps, neck_maps, model_file)
    runner = runner_for(model_file, runtime, precision, threads)
    error = _relative_error(
        runner(x.numpy()), neck_maps if with_neck else backbone_maps)
    if error > TOLERANCE[precision]:
        raise ValueError(
            f'{model_file} in {runtime} {precision} differs from the '
            f"checkpoint's {'backbone + neck' if with_neck else 'backbone'} "
            f'by {error:.2e} (relative) on a probe input, more than '
            f'{precision} allows ({TOLERANCE[precision]:g}): the file holds '
            'other weights. Export it from this checkpoint.')
    part = 'backbone + neck' if with_neck else 'backbone'
    description = f'{part}: {model_file} in {runtime} {precision}'
    model.backbone = RuntimeModule(runner, description)
    if with_neck:
        model.neck = PassThrough()
    return (f'{part} in {runtime} {precision} ({model_file}; relative '
            f'difference from PyTorch fp32 on a probe input {error:.1e})')

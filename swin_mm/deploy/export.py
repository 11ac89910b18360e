"""One exported graph for every batch and image size.

The backbone's fast path traces with symbolic sizes (its window plans are
tensor programs, the no-shift rule a tensor), so ``torch.export`` with
dynamic batch, height and width gives one program that serves every input;
the ONNX file is that program translated (``torch.onnx.export`` with
``dynamo=True``) and runs in ONNX Runtime and OpenVINO.

Sizes of 1 (a 32-pixel side has a 1-pixel stage-4 map) must not be
specialised away, so tracing runs with PyTorch's size-oblivious reasoning
(``backed_size_oblivious``): a traced size of 1 is treated like any other.
"""
import contextlib
from typing import Callable, Iterator, List, Optional, Sequence, Tuple

import torch
import torch.fx.experimental._config as symbolic_config
import torch.nn as nn
from torch.export import Dim, ExportedProgram

from ..models.backbones.swin_transformer import SwinBlock, SwinTransformer
from ..models.fast_path.block import global_hooks, has_hooks
from ..models.tracing import size_oblivious

#: The example traced when none is given: batch 2 and sizes that are not
#: multiples of the window at any stage, so nothing is a special case.
DEFAULT_EXAMPLE = (2, 3, 229, 301)

#: Largest batch, height and width the exported graph accepts.
MAX_BATCH, MAX_SIZE = 1024, 8192


class ExportError(RuntimeError):
    """A model (or an option of it) that cannot be exported with dynamic
    sizes; the message names it and says what to change."""


class BackboneWithNeck(nn.Module):
    """Backbone then neck, as one module: image -> the neck's maps."""

    def __init__(self, backbone: nn.Module, neck: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        self.neck = neck

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        return tuple(self.neck(self.backbone(x)))


def check_exportable(model: nn.Module) -> None:
    """Raise :class:`ExportError` for what cannot trace with dynamic sizes.

    - a backbone built with ``fast_path=False``: its reference steps
      (``torch.roll``, padding only when needed) decide on sizes in Python;
    - a hook on a module inside a block, or a global module hook: hooked
      blocks run the reference path;
    - Swin V2 without ``always_shift``: its window shrinks to the map on
      maps no larger than the window (the official rule), a different
      program for small inputs; ``always_shift=True`` pads instead.
    """
    backbones = [m for m in model.modules() if isinstance(m, SwinTransformer)]
    if not backbones:
        raise ExportError(
            'No swin_mm SwinTransformer / SwinTransformerV2 in the model: '
            'export takes a swin_mm backbone (or a module containing one).')
    if global_hooks():
        raise ExportError(
            'A global module hook is registered (nn.modules.module.'
            'register_module_forward_hook or similar); hooked blocks run '
            'the reference path, which does not export with dynamic sizes. '
            'Remove the hook before exporting.')
    for name, module in model.named_modules():
        if not isinstance(module, SwinBlock):
            continue
        if not module.fast_path:
            raise ExportError(
                f'{name}: built with fast_path=False. The reference path '
                'decides padding and shifts in Python on the input size and '
                'does not export with dynamic sizes; build the backbone with '
                'fast_path=True (the default) to export. Both paths compute '
                'the same features.')
        hooked = [
            f'{name}.{sub}' for sub, m in module.named_modules()
            if sub and has_hooks(m)
        ]
        if hooked or has_hooks(module):
            raise ExportError(
                f'Hooks on {hooked or [name]}: hooked blocks run the '
                'reference path, which does not export with dynamic sizes. '
                'Remove the hooks before exporting.')
        if module.attn.shrink_window:
            raise ExportError(
                f'{name}: SwinTransformerV2 with always_shift=False shrinks '
                'its window to maps no larger than the window (the official '
                'V2 rule), a different program for small inputs, so one '
                'graph cannot serve every size. Export with '
                'always_shift=True (windows keep their size and pad), or '
                'export at a fixed size with torch.onnx.export.')


def dynamic_shapes(min_size: int) -> Tuple[dict]:
    """``dynamic_shapes`` for one (B, C, H, W) input: batch, H, W free."""
    return ({
        0: Dim('batch', min=1, max=MAX_BATCH),
        2: Dim('height', min=min_size, max=MAX_SIZE),
        3: Dim('width', min=min_size, max=MAX_SIZE),
    }, )


@contextlib.contextmanager
def _exporting(model: nn.Module) -> Iterator[None]:
    """Eval mode, no autograd, size-oblivious tracing; restores the mode."""
    training = model.training
    model.eval()
    try:
        with torch.no_grad(), size_oblivious():
            yield
    finally:
        model.train(training)


def _example(model: nn.Module,
             example: Optional[torch.Tensor]) -> torch.Tensor:
    if example is not None:
        return example
    device = next(model.parameters()).device
    backbone = next(m for m in model.modules()
                    if isinstance(m, SwinTransformer))
    shape = (DEFAULT_EXAMPLE[0], backbone.in_channels, *DEFAULT_EXAMPLE[2:])
    return torch.randn(*shape, device=device)


def _min_size(model: nn.Module) -> int:
    return max(m.patch_size for m in model.modules()
               if isinstance(m, SwinTransformer))


def export_program(model: nn.Module,
                   example: Optional[torch.Tensor] = None) -> ExportedProgram:
    """``torch.export.export`` of a swin_mm backbone (or backbone + neck)
    in eval mode, with dynamic batch, height and width.

    Args:
        model: The backbone, or a module containing it (e.g.
            :class:`BackboneWithNeck`).
        example: A (B, C, H, W) input to trace (default: random, batch 2,
            229 x 301); the program serves every size from the backbone's
            patch size up to ``MAX_SIZE``.
    """
    check_exportable(model)
    x = _example(model, example)
    with _exporting(model):
        return torch.export.export(
            model, (x, ), dynamic_shapes=dynamic_shapes(_min_size(model)))


def compile_dynamic(model: nn.Module, **compile_kwargs) -> Callable:
    """``torch.compile(model, dynamic=True, **compile_kwargs)``, called
    with the sizes traced size-obliviously and without duck sizing, so that
    one compilation serves every input size: a stage map of 1 pixel, or a
    first input with H == W, would otherwise be specialised on and
    recompiled for the next size.

    Returns:
        A function of the input, like the compiled module.
    """
    compiled = torch.compile(model, dynamic=True, **compile_kwargs)

    def run(*args, **kwargs):
        with symbolic_config.patch(
                backed_size_oblivious=True, use_duck_shape=False):
            return compiled(*args, **kwargs)

    return run


def output_names(count: int) -> List[str]:
    return [f'out{i}' for i in range(count)]


def export_onnx(model: nn.Module,
                file: str,
                example: Optional[torch.Tensor] = None,
                opset: int = 18,
                check: bool = True) -> str:
    """Write ``model`` (a swin_mm backbone, or backbone + neck) as ONE ONNX
    file with dynamic batch, height and width.

    Input ``image`` (B, C, H, W) float32; outputs ``out0``... (the maps).
    ``onnx.checker`` validates the file unless ``check=False``.

    Args:
        model: The backbone, or a module containing it.
        file: Output path.
        example: Input to trace (see :func:`export_program`).
        opset: ONNX opset (>= 17).

    Returns:
        ``file``.
    """
    if opset < 17:
        raise ValueError(f'opset must be >= 17 (LayerNormalization), got '
                         f'{opset}')
    check_exportable(model)
    x = _example(model, example)
    with _exporting(model):
        count = len(model(x))
        program = torch.onnx.export(
            model, (x, ),
            dynamic_shapes=dynamic_shapes(_min_size(model)),
            input_names=['image'],
            output_names=output_names(count),
            opset_version=opset,
            dynamo=True,
            verbose=False)
    program.save(file)
    if check:
        import onnx
        onnx.checker.check_model(file, full_check=True)
    return file


def reshape_sizes(file: str) -> Sequence[Tuple[str, Tuple[int, ...]]]:
    """The constant target shapes of every Reshape in an ONNX file, as
    (node name, shape): with dynamic sizes none may hold a size traced
    from the example (only -1, 0 and channel counts)."""
    import onnx
    from onnx import numpy_helper
    graph = onnx.load(file).graph
    constants = {
        init.name: numpy_helper.to_array(init)
        for init in graph.initializer
    }
    for node in graph.node:
        if node.op_type == 'Constant':
            for attr in node.attribute:
                if attr.name == 'value':
                    constants[node.output[0]] = numpy_helper.to_array(attr.t)
    return [(node.name, tuple(int(v) for v in constants[node.input[1]]))
            for node in graph.node
            if node.op_type == 'Reshape' and node.input[1] in constants]

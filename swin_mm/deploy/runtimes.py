"""An exported backbone (or backbone + neck) run by PyTorch, ONNX Runtime or
OpenVINO at f32, bf16 or int8, as a module a detector or segmentor calls.

A runner maps a float32 (B, C, H, W) array to the list of output maps;
:class:`RuntimeModule` wraps one so that the rest of the model (neck,
heads) stays in PyTorch. Every pair of runtime and precision that cannot
run here is refused with the reason (:func:`check_runtime`).
"""
import importlib
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn

RUNTIMES = ('pytorch', 'onnxruntime', 'openvino')
PRECISIONS = ('f32', 'bf16', 'int8')
#: The precisions each runtime runs.
SUPPORTED = {
    'pytorch': ('f32', 'bf16'),
    'onnxruntime': ('f32', ),
    'openvino': ('f32', 'bf16', 'int8'),
}
#: OpenVINO's precision for the operations a file does not quantize.
FLOAT_PRECISION = {'f32': 'f32', 'bf16': 'bf16', 'int8': 'f32'}
#: The Python package of each runtime (``swin_mm[deploy]`` installs them).
PACKAGES = {'onnxruntime': 'onnxruntime', 'openvino': 'openvino'}

Runner = Callable[[np.ndarray], List[np.ndarray]]


def _check_choice(what: str, value: str, choices: Sequence[str]) -> None:
    if value not in choices:
        raise ValueError(f'{what} must be one of {tuple(choices)}, got '
                         f'{value!r}')


def require(runtime: str):
    """Import and return the runtime's package, or say how to install it."""
    _check_choice('runtime', runtime, tuple(PACKAGES))
    try:
        return importlib.import_module(PACKAGES[runtime])
    except ImportError as e:
        raise ImportError(
            f'The {runtime} runtime needs the {PACKAGES[runtime]} package, '
            f"which is not installed: pip install 'swin_mm[deploy]' (with "
            f'-c requirements/constraints.txt). ({e})') from e


def cpu_has_bf16(runtime: str) -> bool:
    """Whether this CPU runs bf16 matrix products natively in ``runtime``
    (AVX512-BF16 or AMX-BF16)."""
    if runtime == 'openvino':
        capabilities = require('openvino').Core().get_property(
            'CPU', 'OPTIMIZATION_CAPABILITIES')
        return 'BF16' in capabilities
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def check_runtime(runtime: str, precision: str) -> None:
    """Raise a clear error where ``runtime`` cannot run ``precision`` here:
    an unknown name, a precision the runtime lacks, a runtime not
    installed, or bf16 on a CPU without bf16 instructions."""
    _check_choice('runtime', runtime, RUNTIMES)
    _check_choice('precision', precision, PRECISIONS)
    if precision not in SUPPORTED[runtime]:
        hint = ('int8 runs in OpenVINO, from a model quantized by '
                'tools/deployment/quantize.py' if precision == 'int8' else
                'bf16 runs in PyTorch (autocast) and OpenVINO')
        raise ValueError(f'The {runtime} runtime does not run {precision} '
                         f'here (it runs {", ".join(SUPPORTED[runtime])}); '
                         f'{hint}.')
    if runtime != 'pytorch':
        require(runtime)
    if precision == 'bf16' and not cpu_has_bf16(runtime):
        raise ValueError(
            f'bf16 asked of {runtime}, but this CPU has no bf16 matrix '
            'instructions (AVX512-BF16 or AMX-BF16): bf16 would be emulated, '
            'slower than f32. Use f32.')


def onnxruntime_runner(file: str, threads: Optional[int] = None) -> Runner:
    """The ONNX file in ONNX Runtime's CPU provider."""
    onnxruntime = require('onnxruntime')
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads or torch.get_num_threads()
    # Idle threads must not spin: PyTorch runs the heads on the same cores.
    options.add_session_config_entry('session.intra_op.allow_spinning', '0')
    session = onnxruntime.InferenceSession(
        file, options, providers=['CPUExecutionProvider'])
    name = session.get_inputs()[0].name
    return lambda x: session.run(None, {name: x})


def openvino_compiled(file: str,
                      precision: str,
                      threads: Optional[int] = None,
                      shape: Optional[Sequence[int]] = None,
                      profile: bool = False):
    """The file (ONNX, or OpenVINO IR ``.xml``) compiled by OpenVINO's CPU
    plugin at ``precision``: 'f32'; 'bf16' to the outputs
    (:func:`with_bf16_outputs`); or 'int8' for a quantized file (its
    unquantized operations in f32). With ``shape``, fixed to that input
    shape first."""
    openvino = require('openvino')
    core = openvino.Core()
    model = core.read_model(file)
    if shape is not None:
        model.reshape({model.inputs[0]: list(shape)})
    if precision == 'bf16':
        model = with_bf16_outputs(model)
    return core.compile_model(
        model, 'CPU', {
            'INFERENCE_PRECISION_HINT': FLOAT_PRECISION[precision],
            'INFERENCE_NUM_THREADS': threads or torch.get_num_threads(),
            'PERF_COUNT': profile
        })


def with_bf16_outputs(model):
    """The model with its outputs in bf16, so that OpenVINO runs it in bf16
    to the end.

    In bf16, OpenVINO's CPU plugin keeps in f32 every operation between an
    f32 output and the matrix products before it ("the tail", for
    accuracy). In a Swin backbone each stage's output is its last norm of
    the residual stream, so the tail reaches back along the skip
    connections through all of the stage's residual adds and norms, with a
    bf16 <-> f32 conversion around each linear layer. bf16 outputs end the
    tail; the runner converts the maps to f32 (:func:`output_maps`)."""
    openvino = require('openvino')
    from openvino.preprocess import PrePostProcessor
    steps = PrePostProcessor(model)
    for i in range(len(model.outputs)):
        steps.output(i).tensor().set_element_type(openvino.Type.bf16)
    return steps.build()


def output_maps(request, count: int) -> List[np.ndarray]:
    """An OpenVINO request's outputs as float32 arrays (bf16 widened)."""
    openvino = require('openvino')
    maps = []
    for i in range(count):
        tensor = request.get_output_tensor(i)
        data = np.asarray(tensor.data)
        if tensor.element_type == openvino.Type.bf16:
            # bf16 is the upper half of a float32: shift its bits up.
            data = (data.view(np.uint16).astype(np.uint32) << 16).view(
                np.float32)
        maps.append(np.array(data, dtype=np.float32))
    return maps


def openvino_runner(file: str,
                    precision: str,
                    threads: Optional[int] = None,
                    shape: Optional[Sequence[int]] = None) -> Runner:
    """The file in OpenVINO (:func:`openvino_compiled`); maps as float32
    arrays."""
    compiled = openvino_compiled(file, precision, threads, shape)
    request = compiled.create_infer_request()
    count = len(compiled.outputs)

    def run(x: np.ndarray) -> List[np.ndarray]:
        request.infer([x])
        return output_maps(request, count)

    return run


def _onnx_graph(file: str):
    """The graph of an ONNX file (weights not read), or None for another
    kind of file (OpenVINO IR)."""
    if not str(file).lower().endswith('.onnx'):
        return None
    import onnx
    return onnx.load(str(file), load_external_data=False).graph


def is_quantized(file: str) -> bool:
    """Whether an ONNX / OpenVINO IR file holds int8 quantization (NNCF's
    FakeQuantize, or ONNX QuantizeLinear) nodes."""
    graph = _onnx_graph(file)
    if graph is not None:
        return any(node.op_type == 'QuantizeLinear' for node in graph.node)
    model = require('openvino').Core().read_model(file)
    return any(op.get_type_name() in ('FakeQuantize', 'QuantizeLinear')
               for op in model.get_ops())


def file_signature(file: str) -> Tuple[Optional[int], List[Optional[int]]]:
    """(input channels, output channels) of an ONNX / OpenVINO IR file;
    None where the file leaves a channel count dynamic."""
    graph = _onnx_graph(file)
    if graph is not None:

        def onnx_channels(value) -> Optional[int]:
            dims = value.type.tensor_type.shape.dim
            has_value = len(dims) == 4 and dims[1].HasField('dim_value')
            return dims[1].dim_value if has_value else None

        return (onnx_channels(graph.input[0]),
                [onnx_channels(o) for o in graph.output])
    model = require('openvino').Core().read_model(file)

    def channels(port) -> Optional[int]:
        shape = port.get_partial_shape()
        if shape.rank.is_dynamic or len(shape) != 4 or shape[1].is_dynamic:
            return None
        return shape[1].get_length()

    return channels(model.inputs[0]), [channels(o) for o in model.outputs]


def runner_for(file: str,
               runtime: str,
               precision: str,
               threads: Optional[int] = None) -> Runner:
    """The runner of ``file`` in ``runtime`` at ``precision`` (checked
    first by :func:`check_runtime`); int8 needs a quantized file, f32 and
    bf16 an unquantized one."""
    check_runtime(runtime, precision)
    if runtime == 'pytorch':
        raise ValueError('The pytorch runtime runs the model itself, not a '
                         f'model file ({file}); use onnxruntime or openvino '
                         'to run a file.')
    quantized = is_quantized(file)
    if precision == 'int8' and not quantized:
        raise ValueError(
            f'{file} holds no int8 quantization; quantize the model first '
            '(tools/deployment/quantize.py CONFIG CHECKPOINT --out DIR) and '
            'pass the .xml it writes.')
    if precision != 'int8' and quantized:
        raise ValueError(
            f'{file} is quantized to int8; run it with precision int8, or '
            f'pass the unquantized file for {precision}.')
    if runtime == 'onnxruntime':
        return onnxruntime_runner(file, threads)
    return openvino_runner(file, precision, threads)


class RuntimeModule(nn.Module):
    """Calls a runner in place of a PyTorch module: takes a (B, C, H, W)
    tensor, returns its maps as a tuple of float32 tensors on the input's
    device."""

    def __init__(self, runner: Runner, description: str) -> None:
        super().__init__()
        self.runner = runner
        self.description = description

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        maps = self.runner(x.detach().float().cpu().contiguous().numpy())
        return tuple(torch.from_numpy(m).to(x.device) for m in maps)

    def extra_repr(self) -> str:
        return self.description


class Autocast(nn.Module):
    """A module run under CPU bf16 autocast, its outputs back in float32."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, x: torch.Tensor):
        with torch.autocast('cpu', dtype=torch.bfloat16):
            out = self.module(x)
        return type(out)(o.float() for o in out)


class PassThrough(nn.Module):
    """Returns its input: stands for a neck already run by the runtime."""

    def forward(self, x):
        return x

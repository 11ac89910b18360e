"""Swin on a CPU, runtime by runtime: swin_mm and MMDetection's Swin in
PyTorch, and exported to ONNX Runtime and OpenVINO.

Same weights. swin_mm is exported once (dynamic sizes) and that one file
serves every size; MMDetection's Swin is exported at each size (its fixed-
size export, the best it offers). Rounds interleaved over all runtimes,
medians; images per second, speed-up over MMDetection's Swin in PyTorch
fp32, and the output's relative error (max over outputs of
||out - ref|| / ||ref||, ref: the same model in PyTorch fp32). swin_mm's
file also runs in OpenVINO fixed to the input's shape
(``Model.reshape`` before compiling: its shape arithmetic then folds
into constants). A second table says where OpenVINO's time goes, node
type by node type (the profiled call of median total time among three,
per runner). Run from the repository root:

    python -m benchmarks.runtimes --sizes 224x224x8 800x1344x1 --rounds 5
"""
import argparse
import os
import statistics
import tempfile
import time
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from benchmarks import parser_from_doc
from benchmarks.swin_vs_mmdet import (build_pair, describe_machine,
                                      parse_case_size)
from swin_mm.deploy import export_onnx
from swin_mm.deploy.quantize import quantize
from swin_mm.deploy.runtimes import (Runner, onnxruntime_runner,
                                     openvino_compiled, openvino_runner)


def parse_args(argv=None) -> argparse.Namespace:
    parser = parser_from_doc(__doc__)
    parser.add_argument('--arch', default='tiny')
    parser.add_argument(
        '--sizes', nargs='+', default=['224x224x8', '800x1344x1'])
    parser.add_argument('--rounds', type=int, default=5)
    parser.add_argument('--threads', type=int, default=2)
    return parser.parse_args(argv)


def torch_runner(model: torch.nn.Module, bf16: bool = False) -> Runner:

    def run(x: np.ndarray) -> List[np.ndarray]:
        with torch.no_grad(), torch.autocast(
                'cpu', dtype=torch.bfloat16, enabled=bf16):
            return [o.float().numpy() for o in model(torch.from_numpy(x))]

    return run


#: OpenVINO CPU node types by what they compute, for :func:`time_shares`.
NODE_GROUPS = {
    'linear layers': ('FullyConnected', ),
    'attention products, softmax': ('MatMul', 'Softmax'),
    'LayerNorm': ('MVN', ),
}


def node_group(node) -> str:
    """The ``NODE_GROUPS`` group of a profiled OpenVINO node, or 'other'."""
    for group, types in NODE_GROUPS.items():
        if node.node_type in types:
            return group
    return 'other'


def time_shares(compiled,
                x: np.ndarray,
                calls: int = 3,
                group=node_group) -> Dict[str, float]:
    """Share of the profiled node time by ``group(node)`` (default: its
    ``NODE_GROUPS`` group or 'other') in the call of median total time among
    ``calls`` calls (one call's shares, so they sum to 1), from a model
    compiled with ``profile=True``."""
    request = compiled.create_infer_request()
    request.infer([x])  # first call: allocations, not measured
    every_group = (*NODE_GROUPS, 'other') if group is node_group else ()
    profiles = []
    for _ in range(calls):
        request.infer([x])
        totals = dict.fromkeys(every_group, 0.)
        for node in request.profiling_info:
            key = group(node)
            totals[key] = totals.get(key, 0.) + node.real_time.total_seconds()
        profiles.append(totals)
    profiles.sort(key=lambda totals: sum(totals.values()))
    median = profiles[len(profiles) // 2]
    whole = sum(median.values())
    return {key: t / whole for key, t in median.items()}


MODELS = ('MMDetection', 'swin_mm')


def by_model(items):
    """(model, runtime) -> value items, MMDetection's rows first (stable)."""
    return sorted(items, key=lambda item: MODELS.index(item[0][0]))


#: An OpenVINO runner: (file, precision, input shape or None for the
#: file's own dynamic shape), by (model, runtime).
OpenVINOCases = Dict[Tuple[str, str], Tuple[str, str, Optional[tuple]]]

PRECISIONS = ('f32', 'bf16', 'int8')


def openvino_cases(files: Dict[Tuple[str, str], str],
                   shape: tuple) -> OpenVINOCases:
    """Both models' files at f32, bf16 and int8 (``files``: by (model,
    'float' or 'int8')), and swin_mm's also fixed to ``shape``."""
    cases = {}
    for precision in PRECISIONS:
        kind = 'int8' if precision == 'int8' else 'float'
        for model in MODELS:
            runtime = f'OpenVINO {precision}'
            cases[model, runtime] = (files[model, kind], precision, None)
        fixed = f'OpenVINO {precision}, fixed size'
        cases['swin_mm', fixed] = (files['swin_mm', kind], precision, shape)
    return cases


def quantized_file(file: str, shape: tuple, out: str, count: int = 16) -> str:
    """``file`` quantized to int8 by NNCF (transformer settings) and saved
    as ``out`` (OpenVINO IR), calibrated on ``count`` random N(0, 1)
    inputs of ``shape``: the benchmark has no dataset;
    tools/deployment/quantize.py calibrates on real images."""
    import openvino
    generator = np.random.default_rng(0)
    inputs = [
        generator.standard_normal(shape, dtype=np.float32)
        for _ in range(count)
    ]
    openvino.save_model(quantize(file, inputs), out)
    return out


def export_fixed(model: torch.nn.Module, x: torch.Tensor, file: str) -> str:
    """``torch.onnx.export`` at one size (what MMDetection's Swin offers)."""
    model.eval()  # (MMDetection's Swin.train() returns None: no chaining)
    with torch.no_grad():
        program = torch.onnx.export(
            model, (x, ),
            input_names=['image'],
            opset_version=18,
            dynamo=True,
            verbose=False)
    program.save(file)
    return file


def relative_error(got: Sequence[np.ndarray],
                   ref: Sequence[np.ndarray]) -> float:
    return max(
        float(np.linalg.norm(g - r) / np.linalg.norm(r))
        for g, r in zip(got, ref))


def time_runners(runners: Dict[str, Runner], x: np.ndarray,
                 rounds: int) -> Dict[str, float]:
    """Median seconds per call, rounds interleaved (one warm-up call)."""
    for run in runners.values():
        run(x)
    times = {name: [] for name in runners}
    for _ in range(rounds):
        for name, run in runners.items():
            start = time.perf_counter()
            run(x)
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def main(argv=None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    theirs, ours = build_pair(args.arch)
    theirs.eval()
    ours.eval()
    work = tempfile.mkdtemp(prefix='swin_runtimes_')
    ours_file = export_onnx(ours, os.path.join(work, 'swin_mm.onnx'))
    print(describe_machine('cpu', None))
    print('| input | runtime | model | img/s | vs MMDetection PyTorch fp32 '
          '| relative error |')
    print('|---|---|---|---|---|---|')
    shares = {}
    for text in args.sizes:
        (h, w), batch = parse_case_size(text)
        x = torch.randn(batch, 3, h, w)
        theirs_file = export_fixed(theirs, x,
                                   os.path.join(work, f'mmdet_{text}.onnx'))
        files = {
            ('MMDetection', 'float'): theirs_file,
            ('swin_mm', 'float'): ours_file
        }
        for model_name in MODELS:
            float_file = files[model_name, 'float']
            out = os.path.join(work, f'{model_name}_{text}_int8.xml')
            files[model_name, 'int8'] = quantized_file(float_file, x.shape,
                                                       out)
        cases = openvino_cases(files, tuple(x.shape))
        runners = {}
        for model_name, model, file in (('MMDetection', theirs, theirs_file),
                                        ('swin_mm', ours, ours_file)):
            runners[model_name, 'PyTorch fp32'] = torch_runner(model)
            runners[model_name, 'PyTorch bf16'] = torch_runner(model, True)
            runners[model_name, 'ONNX Runtime fp32'] = onnxruntime_runner(
                file, args.threads)
        for key, (file, precision, shape) in cases.items():
            runners[key] = openvino_runner(file, precision, args.threads,
                                           shape)
        data = x.numpy()
        refs = {m: runners[m, 'PyTorch fp32'](data) for m in MODELS}
        seconds = time_runners(runners, data, args.rounds)
        base = seconds['MMDetection', 'PyTorch fp32']
        for (model_name, runtime), t in by_model(seconds.items()):
            error = relative_error(runners[model_name, runtime](data),
                                   refs[model_name])
            print(f'| {text} | {runtime} | {model_name} | {batch / t:.2f} | '
                  f'{base / t:.2f}x | {error:.1e} |')
        shares[text] = {
            key:
            time_shares(
                openvino_compiled(file, precision, args.threads, shape, True),
                data)
            for key, (file, precision, shape) in cases.items()
        }
    print_shares(shares)


def print_shares(shares: Dict[str, Dict[tuple, Dict[str, float]]]) -> None:
    """The time-share table; 'only linear layers' is 1 / their share: the
    speed-up the runner would get if nothing but its linear layers ran."""
    groups = (*NODE_GROUPS, 'other')
    print()
    print('| input | runtime | model | ' + ' | '.join(groups) +
          ' | only linear layers |')
    print('|---' * (len(groups) + 4) + '|')
    for text, by_runner in shares.items():
        for (model_name, runtime), share in by_model(by_runner.items()):
            cells = ' | '.join(f'{100 * share[g]:.0f} %' for g in groups)
            print(f'| {text} | {runtime} | {model_name} | {cells} | '
                  f'{1 / share["linear layers"]:.2f}x |')


if __name__ == '__main__':
    main()

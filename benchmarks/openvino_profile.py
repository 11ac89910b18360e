"""Where OpenVINO's time goes in swin_mm's exported Swin, node type by node
type: the detail behind the "other" column of ``benchmarks.runtimes``.

Exports swin_mm's Swin (random weights, one dynamic-size file), quantizes
it for int8 as that benchmark does, and prints each node type's share of
one profiled call (the call of median total time among three; OpenVINO's
own node types and kernels, e.g. ``Pad (ref_bf16)``: a reference kernel).
Run from the repository root:

    python -m benchmarks.openvino_profile --size 224x224x8 \\
        --precisions bf16 int8
"""
import argparse
import os
import tempfile

import torch

from benchmarks import parser_from_doc
from benchmarks.runtimes import quantized_file, time_shares
from benchmarks.swin_vs_mmdet import describe_machine, parse_case_size
from swin_mm.deploy import export_onnx
from swin_mm.deploy.runtimes import openvino_compiled
from swin_mm.models import SwinTransformer


def node_kind(node) -> str:
    """A profiled node's type and kernel: ``Pad (ref_bf16)``."""
    return f'{node.node_type} ({node.exec_type})'


def parse_args(argv=None) -> argparse.Namespace:
    parser = parser_from_doc(__doc__)
    parser.add_argument('--arch', default='tiny')
    parser.add_argument('--size', default='224x224x8')
    parser.add_argument(
        '--precisions',
        nargs='+',
        default=['bf16', 'int8'],
        choices=('f32', 'bf16', 'int8'))
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--top', type=int, default=12)
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    (h, w), batch = parse_case_size(args.size)
    shape = (batch, 3, h, w)
    work = tempfile.mkdtemp(prefix='swin_profile_')
    file = export_onnx(
        SwinTransformer(args.arch).eval(), os.path.join(work, 'swin.onnx'))
    print(describe_machine('cpu', None))
    x = torch.randn(*shape).numpy()
    for precision in args.precisions:
        source = quantized_file(file, shape, os.path.join(
            work, 'swin_int8.xml')) if precision == 'int8' else file
        compiled = openvino_compiled(
            source, precision, args.threads, profile=True)
        shares = time_shares(compiled, x, group=node_kind)
        print(f'\nswin_mm {args.arch}, {args.size}, OpenVINO {precision}, '
              'dynamic file:')
        print('| node type | share |')
        print('|---|---|')
        for kind, share in sorted(
                shares.items(), key=lambda item: -item[1])[:args.top]:
            print(f'| {kind} | {100 * share:.1f} % |')


if __name__ == '__main__':
    main()

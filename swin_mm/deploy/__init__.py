"""Deployment: a swin_mm backbone (optionally with its neck) as one graph
for every batch and image size (``torch.export``, ONNX for ONNX Runtime
and OpenVINO). See docs/deployment.md."""
from .export import (BackboneWithNeck, ExportError, check_exportable,
                     compile_dynamic, export_onnx, export_program)

__all__ = [
    'BackboneWithNeck', 'ExportError', 'check_exportable', 'compile_dynamic',
    'export_onnx', 'export_program'
]

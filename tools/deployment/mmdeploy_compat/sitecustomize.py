"""Lets MMDeploy 1.3.1 (its last release) run with torch >= 2.9.

Put this folder first on ``PYTHONPATH`` when running MMDeploy's
``tools/deploy.py`` or ``tools/test.py`` (docs/deployment.md): Python
imports ``sitecustomize`` at start-up, in MMDeploy's spawned export process
too. Neither change concerns Swin; MMDeploy needs no Swin rewriter for
swin_mm's backbone.

- ``torch.onnx.export`` defaults to the dynamo exporter since torch 2.9;
  MMDeploy's rewriters and symbolics are written for the TorchScript-based
  one, so ``dynamo=False`` is made the default again.
- MMDeploy's symbolic for mmcv's ``RoIAlign`` imports
  ``torch.onnx.symbolic_opset9._cast_Long``, which torch removed: it is
  restored as the same cast to int64.
"""
import functools

import torch.onnx
import torch.onnx.symbolic_opset9 as opset9

torch.onnx.export = functools.partial(torch.onnx.export, dynamo=False)

if not hasattr(opset9, '_cast_Long'):

    def _cast_Long(g, input, non_blocking):  # torch's name for it
        return g.op('Cast', input, to_i=7)  # onnx.TensorProto.INT64

    opset9._cast_Long = _cast_Long

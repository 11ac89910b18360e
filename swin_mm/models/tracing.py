"""Whether the model is being traced, exported or compiled."""
import torch


def tracing() -> bool:
    """True under ``torch.export`` (and the ONNX exporters), ``torch.compile``
    and TorchScript tracing or scripting, where sizes may be symbolic: code
    then takes what traces (no Python loop over sizes, no cache filled with
    traced values, no oneDNN calls)."""
    return (torch.compiler.is_compiling() or torch.jit.is_tracing()
            or torch.jit.is_scripting() or torch.onnx.is_in_onnx_export())

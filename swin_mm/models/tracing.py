"""Whether the model is being traced, exported or compiled, and a cache
that only eager calls fill."""
import functools
from typing import Callable

import torch


def tracing() -> bool:
    """True under ``torch.export`` (and the ONNX exporters), ``torch.compile``
    and TorchScript tracing or scripting, where sizes may be symbolic: code
    then takes what traces (no Python loop over sizes, no cache filled with
    traced values, no oneDNN calls)."""
    return (torch.compiler.is_compiling() or torch.jit.is_tracing()
            or torch.jit.is_scripting() or torch.onnx.is_in_onnx_export())


def eager_cache(maxsize: int) -> Callable[[Callable], Callable]:
    """``functools.lru_cache(maxsize)`` for eager calls only: while tracing,
    the function runs uncached, so no traced value (fake tensor, symbolic
    size) is ever stored for a later eager call to read. The wrapper keeps
    ``cache_info`` and ``cache_clear``."""

    def decorate(fn: Callable) -> Callable:
        cached = functools.lru_cache(maxsize=maxsize)(fn)

        @functools.wraps(fn)
        def call(*args):
            return fn(*args) if tracing() else cached(*args)

        call.cache_info = cached.cache_info
        call.cache_clear = cached.cache_clear
        return call

    return decorate

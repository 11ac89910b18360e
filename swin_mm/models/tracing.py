"""Whether the model is being traced, exported or compiled, and a cache
that only eager calls fill."""
import contextlib
import functools
from typing import Callable, Iterator, List

import torch
import torch.fx.experimental._config as symbolic_config

#: Every cache made by :func:`eager_cache` (window plans, shift masks, V2's
#: shrunk-window tables): what :func:`clear_size_caches` clears.
_EAGER_CACHES: List[Callable] = []


def tracing() -> bool:
    """True under ``torch.export`` (and the ONNX exporters), ``torch.compile``
    and TorchScript tracing or scripting, where sizes may be symbolic: code
    then takes what traces (no Python loop over sizes, no cache filled with
    traced values, no oneDNN calls)."""
    return (torch.compiler.is_compiling() or torch.jit.is_tracing()
            or torch.jit.is_scripting() or torch.onnx.is_in_onnx_export())


@contextlib.contextmanager
def size_oblivious() -> Iterator[None]:
    """Symbolic sizes reasoned about size-obliviously: a traced size of 1
    (one window along a side, a 1-pixel map) is treated like any other
    size, so the trace does not specialise on it or guard on it."""
    with symbolic_config.patch(backed_size_oblivious=True):
        yield


def traced_form(forward: Callable) -> Callable:
    """Run a backbone's ``forward`` size-obliviously (:func:`size_oblivious`)
    while ``torch.export`` traces it: then a plain ``torch.export.export``
    with ``Dim``s for batch, height and width gives one program for every
    size, as :func:`swin_mm.deploy.export_program` does. Under
    ``torch.compile`` the setting is the caller's
    (:func:`swin_mm.deploy.compile_dynamic`): Dynamo does not trace it."""

    @functools.wraps(forward)
    def run(*args, **kwargs):
        if torch.compiler.is_exporting():
            with size_oblivious():
                return forward(*args, **kwargs)
        return forward(*args, **kwargs)

    return run


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
        _EAGER_CACHES.append(cached)
        return call

    return decorate


def clear_size_caches() -> None:
    """Forget everything cached per input size (window plans, shift masks,
    V2's shrunk-window tables): the next forward at any size builds them
    afresh, as at a size never seen."""
    for cache in _EAGER_CACHES:
        cache.cache_clear()

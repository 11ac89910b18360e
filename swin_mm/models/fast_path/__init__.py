"""The fast path: what swin_mm does only for speed, and its settings.

A Swin block computes the same function on two paths. The reference path
runs the paper's steps one by one (pad, cyclic shift, window partition,
explicit softmax attention, window reverse, shift back, crop). The fast
path computes the same values with fewer passes over memory. Which runs:

=======================================  ====================================
condition                                what runs
=======================================  ====================================
``fast_path=False`` on the backbone      reference path
a hook on a module inside the block, or  reference path (every hook sees its
a global module hook                     module called once, whole tensors)
CPU, eval mode, no autograd              chunked inference: windows gathered
                                         a few thousand tokens at a time,
                                         fused attention (PyTorch's flash
                                         kernel) per run of windows sharing
                                         a mask, attention output added into
                                         the residual by one ``index_add_``
CPU with autograd on a trainable bias    one gather, the explicit attention
                                         (no fused kernel gives the bias
                                         gradient on the CPU), one scatter
otherwise (CUDA; CPU with a frozen bias) one gather, fused attention per run
                                         of windows (CUDA: memory-efficient
                                         kernel, mask rows padded to 8), one
                                         scatter
=======================================  ====================================

Inside the fast path, the qkv projection runs before the window gather on
well-padded maps (padding slots then read qkv(0), which the reference also
computes); linear layers go through oneDNN on AVX-512 CPUs for fp32 products
above a size floor, with the MLP's GELU as the product's post-op in
inference (``swin_mm.models.layers.linear``).

Every tunable lives in :data:`config`; tests and experiments change it with
:func:`configure`, never by patching module constants.
"""
import contextlib
import dataclasses
from dataclasses import dataclass
from typing import Iterator, Optional


@dataclass
class FastPathConfig:
    """Tunables of the fast path (defaults: what was measured best on a
    2-core AVX-512 CPU; see docs/speed.md).

    Attributes:
        chunk_bytes: Bytes of the widest per-chunk intermediate (the MLP
            hidden layer) in chunked CPU inference: small enough for cache,
            well under the 32 MiB above which glibc maps every allocation
            afresh.
        project_first_pad_channels: Padding share x channels above which
            the qkv projection runs before the window gather.
        project_before_gather: Force that choice (True / False); None
            decides by ``project_first_pad_channels``.
        max_mask_runs: Above this many runs of windows sharing a mask, the
            fused attention runs once with every window's mask gathered.
        onednn: Linear layers through oneDNN: None on AVX-512 CPUs only
            (where it was measured faster), True wherever PyTorch's oneDNN
            runs, False never.
        min_onednn_macs: Multiply-adds (tokens x in x out) below which a
            linear layer keeps ``F.linear``: on small products oneDNN's
            per-call cost outweighs its faster kernel.
    """
    chunk_bytes: int = 6 * 2**20
    project_first_pad_channels: int = 16
    project_before_gather: Optional[bool] = None
    max_mask_runs: int = 4
    onednn: Optional[bool] = None
    min_onednn_macs: int = 2**26


#: The settings in force.
config = FastPathConfig()


@contextlib.contextmanager
def configure(**changes) -> Iterator[FastPathConfig]:
    """Change :data:`config` within a ``with`` block (unknown names are an
    error), restoring it after."""
    fields = {f.name for f in dataclasses.fields(FastPathConfig)}
    unknown = set(changes) - fields
    if unknown:
        raise TypeError(f'Unknown fast-path settings {sorted(unknown)}; '
                        f'known: {sorted(fields)}')
    saved = dataclasses.replace(config)
    for name, value in changes.items():
        setattr(config, name, value)
    try:
        yield config
    finally:
        for name in fields:
            setattr(config, name, getattr(saved, name))


__all__ = ['FastPathConfig', 'config', 'configure']

"""The fast path: what swin_mm does only for speed, and its settings.

A Swin block computes the same function on two paths. The reference path
runs the paper's steps one by one (pad, cyclic shift, window partition,
explicit softmax attention, window reverse, shift back, crop). The fast
path computes the same values with fewer passes over memory. Which runs:

=======================================  ====================================
condition                                what runs
=======================================  ====================================
``fast_path=False`` on the backbone      reference path, and ``F.linear``
(or ``set_fast_path(False)``)            for every linear layer: plain
                                         PyTorch throughout
a hook on a module inside the block, or  reference path (every hook sees its
a global module hook                     module called once, whole tensors)
traced (``torch.export``, ONNX,          one gather, the explicit attention
``torch.compile``)                       with each window's mask, one
                                         scatter: no loop or choice that
                                         depends on the size, so one
                                         program serves every size
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
inference.

One switch decides: the backbone's ``fast_path`` (``set_fast_path``), read
by :func:`applies` (blocks) and :class:`Linear`; export and analysis use the
same.

Modules: ``block`` (the seam: :func:`applies`, :func:`forward_block`),
``plan`` (window plans), ``attention`` (explicit and fused attention of
window runs), ``linear`` (oneDNN linear layers), ``settings`` (every
tunable, in :data:`config`; tests and experiments change it with
:func:`configure`, never by patching module constants).
"""
from .block import applies, forward_block
from .linear import Linear, linear, linear_gelu
from .plan import WindowPlan, window_plan
from .settings import FastPathConfig, config, configure

__all__ = [
    'FastPathConfig', 'Linear', 'WindowPlan', 'applies', 'config', 'configure',
    'forward_block', 'linear', 'linear_gelu', 'window_plan'
]

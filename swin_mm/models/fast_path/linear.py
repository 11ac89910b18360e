"""Linear layers through oneDNN's inner product on AVX-512 CPUs.

A Swin backbone's time on the CPU is mostly its dense products (the qkv and
output projections, the MLP, patch merging). PyTorch runs fp32 ``F.linear``
through MKL's sgemm; oneDNN, also in every PyTorch CPU build, picks its
kernels from the CPU's feature flags. On an AVX-512 CPU, oneDNN runs its
AVX-512 kernels (``brg_matmul:avx512_core``), and its fp32 inner product
ran Swin's shapes up to 1.4x faster than MKL's sgemm (docs/speed.md).
Both compute the same products in fp32; only the order of the sums
differs (differences at rounding level).

:func:`linear` is ``F.linear`` with that choice made; :class:`Linear` is
``nn.Linear`` (same parameters, same state dict) calling it. The choice
(:func:`onednn_linear_applies`): CPU fp32 tensors, a product of at least
the fast path's ``min_onednn_macs`` multiply-adds, PyTorch's oneDNN enabled
(``torch.backends.mkldnn.flags(enabled=False)`` turns this off too), a CPU
with AVX-512 (the only kind it was measured on; the fast path's ``onednn``
setting overrides this), no autocast, and no tracing or scripting (traced
graphs keep the standard ``aten::linear``).
Everywhere else, and on CUDA, it is ``F.linear``.

With autograd, :class:`_OneDnnLinear` runs the forward product and the
input gradient (grad_y W, itself a linear map) through oneDNN and the weight
gradient (grad_y^T x) through ``torch.mm``, which was as fast or faster for
that shape.

:func:`linear_gelu` is the MLP's first layer and its GELU; without
autograd the GELU runs inside oneDNN's product as a post-op (the values of
``F.gelu`` after it, to rounding), saving one pass over the hidden layer.
"""
from functools import lru_cache
from typing import Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from ..tracing import tracing
from .settings import config

# The size floor (config.min_onednn_macs, 2^26): on small
# products oneDNN's per-call cost (weight reorder, the autograd function)
# outweighs its faster kernel. Measured on one thread, training (forward +
# backward): 1024 x 48 -> 192 (9.4 M) 8% slower, 1024 x 96 -> 384 (38 M)
# even, 4096 x 96 -> 384 (151 M) 11% faster.


@lru_cache(maxsize=1)
def _cpu_has_avx512() -> bool:
    return torch.backends.cpu.get_cpu_capability() == 'AVX512'


def _onednn_wanted() -> bool:
    """The fast path's ``onednn`` setting; by default AVX-512 CPUs only."""
    wanted = config.onednn
    return _cpu_has_avx512() if wanted is None else wanted


def onednn_linear_applies(x: torch.Tensor, weight: torch.Tensor) -> bool:
    """Whether :func:`linear` takes oneDNN's inner product for x and weight.
    """
    return (not tracing() and x.device.type == 'cpu'
            and x.dtype == torch.float32 and weight.dtype == torch.float32
            and x.dim() >= 2 and x.numel() > 0
            and x.numel() * weight.shape[0] >= config.min_onednn_macs
            and torch.backends.mkldnn.enabled
            and torch.backends.mkldnn.is_available() and _onednn_wanted()
            and not torch.is_autocast_enabled('cpu'))


def _inner_product(x: torch.Tensor,
                   weight: torch.Tensor,
                   bias: Optional[torch.Tensor],
                   post_op: str = 'none',
                   algorithm: str = '') -> torch.Tensor:
    """x W^T + b by oneDNN: (tokens, in) -> (tokens, out), optionally
    followed by an elementwise ``post_op`` in the same pass ('gelu' with
    ``algorithm`` 'none' (erf) or 'tanh')."""
    return torch.ops.mkldnn._linear_pointwise(x, weight, bias, post_op, [],
                                              algorithm)


class _OneDnnLinear(torch.autograd.Function):
    """y = x W^T + b with oneDNN's forward and input gradient, on 2-D x.

    2-D, so that the output is a tensor of its own, not a view (oneDNN
    reshapes higher-dimensional outputs), and may be modified in place.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor,
                bias: Optional[torch.Tensor]) -> torch.Tensor:
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        return _inner_product(x, weight, bias)

    @staticmethod
    @once_differentiable
    def backward(ctx,
                 grad: torch.Tensor) -> Tuple[Optional[torch.Tensor], ...]:
        x, weight = ctx.saved_tensors  # tokens, in; out, in
        grad = grad.contiguous()  # tokens, out
        grad_x = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:
            # grad_y W is the linear map whose weight is W^T (in, out);
            # oneDNN reorders the weight anyway, so no copy of W^T first.
            grad_x = _inner_product(grad, weight.t(), None)
        if ctx.needs_input_grad[1]:
            grad_weight = grad.t().mm(x)  # out, in
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_bias = grad.sum(0)  # out
        return grad_x, grad_weight, grad_bias


def _needs_grad(*tensors: Optional[torch.Tensor]) -> bool:
    """Whether autograd records an op on these tensors."""
    return torch.is_grad_enabled() and any(t is not None and t.requires_grad
                                           for t in tensors)


def linear(x: torch.Tensor,
           weight: torch.Tensor,
           bias: Optional[torch.Tensor] = None) -> torch.Tensor:
    """``F.linear(x, weight, bias)``, through oneDNN where
    :func:`onednn_linear_applies` (see the module docstring)."""
    if not onednn_linear_applies(x, weight):
        return F.linear(x, weight, bias)
    if not _needs_grad(x, weight, bias):
        return _product_of_rows(x, weight, bias)
    rows = x.reshape(-1, x.shape[-1])  # tokens, in
    # Not an autograd view of the function's output (as F.linear returns
    # it too): an in-place residual add into a view would make autograd
    # copy the whole gradient in backward.
    return torch.ops.aten._unsafe_view(
        _OneDnnLinear.apply(rows, weight, bias),
        (*x.shape[:-1], weight.shape[0]))  # ..., out


def _product_of_rows(x: torch.Tensor,
                     weight: torch.Tensor,
                     bias: Optional[torch.Tensor],
                     post_op: str = 'none',
                     algorithm: str = '') -> torch.Tensor:
    """:func:`_inner_product` of x's rows, without autograd: (..., in) ->
    (..., out)."""
    rows = x.reshape(-1, x.shape[-1])  # tokens, in
    return _inner_product(rows, weight, bias, post_op,
                          algorithm).view(*x.shape[:-1],
                                          weight.shape[0])  # ..., out


def post_op_applies(x: torch.Tensor, weight: torch.Tensor,
                    bias: Optional[torch.Tensor]) -> bool:
    """Whether :func:`linear_gelu` fuses its GELU into oneDNN's product:
    where :func:`onednn_linear_applies`, without autograd."""
    return not _needs_grad(x, weight, bias) and onednn_linear_applies(
        x, weight)


def linear_gelu(x: torch.Tensor,
                weight: torch.Tensor,
                bias: Optional[torch.Tensor] = None,
                approximate: str = 'none') -> torch.Tensor:
    """``F.gelu(linear(x, weight, bias), approximate=approximate)``; without
    autograd, where :func:`onednn_linear_applies`, the GELU runs inside
    oneDNN's product (a post-op) instead of as one more pass over its
    output."""
    if not post_op_applies(x, weight, bias):
        return F.gelu(linear(x, weight, bias), approximate=approximate)
    return _product_of_rows(x, weight, bias, 'gelu', approximate)


class Linear(nn.Linear):
    """``nn.Linear`` whose product goes through :func:`linear` while its
    ``fast_path`` is on (the backbone's switch); ``F.linear`` otherwise."""
    fast_path: bool = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.fast_path:
            return F.linear(x, self.weight, self.bias)
        return linear(x, self.weight, self.bias)

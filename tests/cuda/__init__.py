"""Tests that need a CUDA device (marker ``cuda``); skipped without one.

Run on a GPU machine with ``tools/gpu_check.sh`` (docs/gpu.md), or
``python -m pytest -m cuda tests/cuda``.
"""
import pytest
import torch

#: Module-level ``pytestmark`` of every test file here.
REQUIRES_CUDA = [
    pytest.mark.cuda,
    pytest.mark.skipif(
        not torch.cuda.is_available(), reason='needs a CUDA device'),
]

"""Fixtures: a small Swin with known weights and an input."""
import pytest
import torch

from .helpers import SIZE, make_swin, randomize


@pytest.fixture
def source_model():
    """Known weights; output norms left at their 1/0 init so checkpoints
    without them (classifiers) reproduce the same features."""
    torch.manual_seed(3)
    model = make_swin()
    model.init_weights()
    randomize(model, skip_out_norms=True)
    return model.eval()


@pytest.fixture
def x():
    return torch.randn(*SIZE)

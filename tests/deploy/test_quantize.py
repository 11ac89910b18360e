"""Calibration images for int8 come from the config's own dataset as the
deployed backbone sees them; what cannot work is refused with its
reason."""
import numpy as np
import pytest

from swin_mm.deploy import quantize
from swin_mm.deploy.quantize import calibration_inputs
from swin_mm.engine.launch import build_model, load_config
from ..engine.conftest import DET_CFG
from ..helpers import hide_package


@pytest.fixture(scope='module')
def det(tmp_path_factory):
    from swin_mm.datasets import ToySpec, generate_toy_dataset
    root = tmp_path_factory.mktemp('toy_calib')
    generate_toy_dataset(str(root), ToySpec(num_train=6, num_val=3, seed=2))
    cfg = load_config(str(DET_CFG))
    cfg.merge_from_dict({
        'train_dataloader.dataset.dataset.data_root': f'{root}/',
        'val_dataloader.dataset.data_root': f'{root}/',
    })
    return cfg, build_model(cfg)


def test_calibration_images_pass_the_data_preprocessor(det):
    cfg, model = det
    inputs = calibration_inputs(cfg, model, 4)
    assert len(inputs) == 4
    for x in inputs:
        assert x.dtype == np.float32 and x.shape[:2] == (1, 3)
        # Normalised by the preprocessor's mean / std, not 0..255 pixels.
        assert -3 < x.mean() < 3 and x.min() < 0
    # The same seed, the same images; another split, other images.
    again = calibration_inputs(cfg, model, 4)
    assert all(np.array_equal(a, b) for a, b in zip(inputs, again))
    val = calibration_inputs(cfg, model, 3, split='val')
    assert not any(a.shape == b.shape and np.array_equal(a, b) for a in inputs
                   for b in val)


def test_more_images_than_the_split_holds_is_refused(det):
    cfg, model = det
    with pytest.raises(ValueError, match='the val split holds 3'):
        calibration_inputs(cfg, model, 4, split='val')
    with pytest.raises(ValueError, match='count must be >= 1'):
        calibration_inputs(cfg, model, 0)
    with pytest.raises(ValueError, match="split must be 'train' or 'val'"):
        calibration_inputs(cfg, model, 1, split='test')


def test_missing_nncf_says_how_to_install(monkeypatch):
    hide_package(monkeypatch, 'nncf')
    with pytest.raises(ImportError, match=r"pip install 'swin_mm\[deploy\]'"):
        quantize.require_nncf()

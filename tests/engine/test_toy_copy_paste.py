"""The toy detection set's training images get shapes of other images pasted
on top (MMDetection's CopyPaste), with every instance's mask and box still
describing what is visible."""
import random

import numpy as np
from mmdet.registry import DATASETS
from mmengine.registry import init_default_scope

from swin_mm.engine.launch import load_config
from .conftest import DET_CFG


def _train_dataset(toy_root):
    cfg = load_config(
        str(DET_CFG),
        {'train_dataloader.dataset.dataset.data_root': f'{toy_root}/'})
    init_default_scope('mmdet')
    return DATASETS.build(cfg.train_dataloader.dataset)


def test_toy_training_images_get_shapes_of_another_image_pasted(toy_root):
    dataset = _train_dataset(toy_root)
    source = dataset.dataset  # the CocoDataset that the mix wraps
    random.seed(0)  # CopyPaste picks its source image with `random` ...
    np.random.seed(0)  # ... and the pasted shapes with numpy
    grew = 0
    for index in range(len(source)):
        own = len(source.get_data_info(index)['instances'])
        for _ in range(3):
            instances = dataset[index]['data_samples'].gt_instances
            grew += len(instances) > own
            masks = instances.masks.to_ndarray()  # n, 128, 128
            # Visible parts only: no pixel belongs to two shapes.
            assert masks.sum(axis=0).max() <= 1
            for mask, box in zip(masks, instances.bboxes.tensor.numpy()):
                ys, xs = np.nonzero(mask)
                assert len(xs) > 0
                tight = [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
                np.testing.assert_allclose(box, tight, atol=1)
    assert grew > 0, 'no training image got another image\'s shapes'

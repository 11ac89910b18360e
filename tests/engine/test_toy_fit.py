"""The toy segmentation labels line up with what the images show.

A toy UperNet + Swin memorises one fixed batch within a few dozen steps
only if every class's pixels carry that class's shapes: with the label maps
shifted against their images (checked: rolled by 64 px) it does not fit. A
consistent swap of two class ids would still fit; this does not catch it.
"""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.runner import Runner

from swin_mm.engine.launch import load_config
from .conftest import SEG_CFG

pytestmark = pytest.mark.slow

STEPS = 60


def _one_batch_runner(toy_root, work_dir) -> Runner:
    data = f'{toy_root}/'
    cfg = load_config(
        str(SEG_CFG),
        {
            'train_dataloader.dataset.data_root': data,
            'train_dataloader.batch_size': 2,
            'train_dataloader.num_workers': 0,
            'train_dataloader.persistent_workers': False,
            # A narrow head: what is tested is the labels, not capacity.
            'model.decode_head.channels': 32,
            'model.auxiliary_head.channels': 16,
            'model.backbone.drop_path_rate': 0.,
            'model.backbone.init_cfg': None,
            # The labels at full size (the config halves them): a circle of
            # 14 px at half size is mostly boundary at the head's stride 4.
            'train_dataloader.dataset.pipeline.2.scale': (256, 256),
            'model.data_preprocessor.size': (256, 256)
        },
        str(work_dir))
    assert cfg.train_dataloader.dataset.pipeline[2].type == 'Resize'
    return Runner.from_cfg(cfg)


def _batch_with_two_shape_classes(loader) -> dict:
    for batch in loader:
        labels = torch.cat(
            [s.gt_sem_seg.data.flatten() for s in batch['data_samples']])
        if len(labels.unique()) >= 3:  # background and two shapes
            return batch
    raise AssertionError('no toy batch shows two shape classes')


def test_toy_upernet_fits_every_class_of_one_batch(toy_root, tmp_path):
    runner = _one_batch_runner(toy_root, tmp_path)
    model = runner.model
    optim_wrapper = runner.build_optim_wrapper(runner.cfg.optim_wrapper)
    batch = _batch_with_two_shape_classes(
        runner.build_dataloader(runner.cfg.train_dataloader))
    for _ in range(STEPS):
        model.train()
        model.train_step(batch, optim_wrapper)
    model.eval()
    with torch.no_grad():
        outputs = model.val_step(batch)
    confusion = np.zeros((4, 4), np.int64)  # rows: label, columns: predicted
    for sample in outputs:
        label = sample.gt_sem_seg.data  # (1, h, w): as the model saw it
        # (1, H, W) at the image's original size -> (1, h, w)
        pred = F.interpolate(
            sample.pred_sem_seg.data[None].float(),
            size=label.shape[-2:],
            mode='nearest')[0]
        np.add.at(confusion,
                  (label.numpy().ravel(), pred.long().numpy().ravel()), 1)
    present = confusion.sum(1) > 0
    assert present[0] and present[1:].sum() >= 2, confusion
    recall = confusion.diagonal()[present] / confusion.sum(1)[present]
    assert (recall > 0.7).all(), confusion

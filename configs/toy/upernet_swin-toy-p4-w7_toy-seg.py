# UperNet + a small swin_mm Swin on the embedded toy label maps (mIoU).
#
# As UperNet on ADE20K starts from an ImageNet-trained backbone, this one
# starts from the toy Mask R-CNN's (`make main`, the same small Swin,
# trained on the same toy images): from scratch, within ten minutes, the
# heads label nearly every shape pixel one class (README, Toy results).
_base_ = [
    'mmseg::_base_/models/upernet_swin.py', '../_base_/datasets/toy_seg.py',
    'mmseg::_base_/default_runtime.py'
]
# `make main`'s final checkpoint (its work dir and max_iters); only the
# backbone's weights are read, the detector's neck and heads are skipped.
toy_detector_checkpoint = 'work_dirs/toy_mask_rcnn/iter_3000.pth'
max_iters = 2400
warmup_iters = 100
model = dict(
    data_preprocessor=dict(size={{_base_.input_scale}}),
    backbone=dict(
        _delete_=True,
        type='swin_mm.SwinTransformer',
        arch=dict(
            embed_dims=48, depths=(2, 2, 2, 2), num_heads=(3, 6, 12, 24)),
        window_size=7,
        drop_path_rate=0.,
        out_indices=(0, 1, 2, 3),
        init_cfg=dict(type='Pretrained', checkpoint=toy_detector_checkpoint)),
    decode_head=dict(
        in_channels=[48, 96, 192, 384], channels=128, num_classes=4),
    auxiliary_head=dict(in_channels=192, channels=64, num_classes=4))

train_cfg = dict(
    type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(
    type='OptimWrapper',
    # fused AdamW: see the toy Mask R-CNN config.
    optimizer=dict(
        type='AdamW',
        lr=6e-4,
        betas=(0.9, 0.999),
        weight_decay=0.01,
        fused=True),
    paramwise_cfg=dict(
        custom_keys={
            'absolute_pos_embed': dict(decay_mult=0.),
            'relative_position_bias_table': dict(decay_mult=0.),
            'norm': dict(decay_mult=0.)
        }))
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=0.01,
        by_epoch=False,
        begin=0,
        end=warmup_iters),
    dict(
        type='PolyLR',
        eta_min=0.0,
        power=1.0,
        begin=warmup_iters,
        end=max_iters,
        by_epoch=False)
]
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=100, log_metric_by_epoch=False),
    checkpoint=dict(
        type='CheckpointHook',
        by_epoch=False,
        interval=max_iters,
        max_keep_ckpts=1))
custom_hooks = [dict(type='swin_mm.LossCurveHook')]
log_processor = dict(by_epoch=False)
randomness = dict(seed=0)

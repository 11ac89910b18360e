# Mask R-CNN + a small swin_mm Swin on the embedded toy dataset: the main job
# on a 2-core CPU (see README for time and mAP).
_base_ = [
    'mmdet::_base_/models/mask-rcnn_r50_fpn.py',
    '../_base_/datasets/toy_coco_instance.py',
    'mmdet::_base_/default_runtime.py'
]
# One image per process and step. `make main` trains in two processes
# (tools/dist_train.sh CONFIG 2, one thread each), i.e. two images per step:
# on this data smaller steps learn more per image seen, and at 128x128 a
# second thread barely speeds up one process, so two single-image processes
# see the most images per minute (README, Toy results).
batch_size = 1
max_iters = 3000
warmup_iters = 200
ch = 64  # FPN and head channels: ample for three shape classes
model = dict(
    backbone=dict(
        _delete_=True,
        type='swin_mm.SwinTransformer',
        arch=dict(
            embed_dims=48, depths=(2, 2, 2, 2), num_heads=(3, 6, 12, 24)),
        window_size=7,
        # A short run from scratch: no stochastic depth.
        drop_path_rate=0.,
        out_indices=(0, 1, 2, 3)),
    neck=dict(in_channels=[48, 96, 192, 384], out_channels=ch),
    # The dataset config halves the images (shapes 14-48 px), so anchors
    # are the stock ones halved: 16-256 px.
    rpn_head=dict(
        in_channels=ch, feat_channels=ch, anchor_generator=dict(scales=[4])),
    # mmcv's CPU RoIAlign is a large part of a step: fixed 2x2 samples per
    # bin (not adaptive) and 64 sampled RoIs per image keep it in check.
    # finest_scale 14: RoIs under 28 px read from P2 (stride 4), 28-56 px
    # from P3; the stock 56 would read every toy object from P2.
    roi_head=dict(
        bbox_roi_extractor=dict(
            out_channels=ch, finest_scale=14,
            roi_layer=dict(sampling_ratio=2)),
        bbox_head=dict(in_channels=ch, fc_out_channels=256, num_classes=3),
        mask_roi_extractor=dict(
            out_channels=ch, finest_scale=14,
            roi_layer=dict(sampling_ratio=2)),
        mask_head=dict(
            in_channels=ch, conv_out_channels=ch, num_convs=2, num_classes=3)),
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=1000, max_per_img=300),
        rcnn=dict(sampler=dict(num=64))),
    test_cfg=dict(
        rpn=dict(nms_pre=500, max_per_img=100), rcnn=dict(max_per_img=20)))

train_dataloader = dict(batch_size=batch_size)
train_cfg = dict(
    type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

optim_wrapper = dict(
    type='OptimWrapper',
    # fused: one kernel per parameter for the whole update (about 20 ms
    # of a 0.3 s toy step on this CPU with the default per-tensor loop).
    optimizer=dict(
        type='AdamW',
        lr=4e-4,
        betas=(0.9, 0.999),
        weight_decay=0.05,
        fused=True),
    # No weight decay on position tables and norms, as published.
    paramwise_cfg=dict(
        custom_keys={
            'absolute_pos_embed': dict(decay_mult=0.),
            'relative_position_bias_table': dict(decay_mult=0.),
            'norm': dict(decay_mult=0.)
        }),
    clip_grad=dict(max_norm=10., norm_type=2))
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=0.01,
        by_epoch=False,
        begin=0,
        end=warmup_iters),
    dict(
        type='CosineAnnealingLR',
        by_epoch=False,
        begin=warmup_iters,
        end=max_iters,
        eta_min=1e-5)
]

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=100),
    checkpoint=dict(
        type='CheckpointHook',
        by_epoch=False,
        interval=max_iters,
        max_keep_ckpts=1))
custom_hooks = [dict(type='swin_mm.LossCurveHook')]
log_processor = dict(by_epoch=False)
randomness = dict(seed=0)

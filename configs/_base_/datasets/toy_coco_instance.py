# The embedded synthetic dataset (tools/make_toy_data.py) in COCO format:
# 256x256 images, classes circle / square / triangle.
# Models see them at half size, 128x128 (shapes 14-48 px): a Mask R-CNN
# step costs about 60% of one at 256x256 here, so 3000 steps fit in the
# main job's ten minutes where 1800 did (README, Toy results). Boxes and
# masks are predicted back at 256x256 and evaluated there.
input_scale = (128, 128)
dataset_type = 'CocoDataset'
data_root = 'data/toy/'
metainfo = dict(
    classes=('circle', 'square', 'triangle'),
    palette=[(220, 20, 60), (0, 128, 255), (60, 180, 75)])
backend_args = None

# Each training image is loaded, resized and flipped ...
load_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='Resize', scale=input_scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5, direction=['horizontal', 'vertical']),
]
# ... then gets up to 3 shapes of another training image pasted on top:
# simple copy-paste (Ghiasi et al., 2021), MMDetection's CopyPaste. A step
# sees more shapes, in new company, for the same compute (README, Toy
# results). A covered shape keeps its label while its box moves by at most
# 2 px or over 40 px of it stay visible (thresholds for 14-48 px shapes;
# MMDetection's defaults, 10 and 300 px, are for COCO-sized objects).
train_pipeline = [
    dict(
        type='CopyPaste',
        max_num_pasted=4,
        bbox_occluded_thr=2,
        mask_occluded_thr=40),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='Resize', scale=input_scale, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor'))
]
# What the train and val splits share.
_dataset = dict(
    type=dataset_type,
    data_root=data_root,
    metainfo=metainfo,
    backend_args=backend_args)
train_dataloader = dict(
    batch_size=4,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    batch_sampler=dict(type='AspectRatioBatchSampler'),
    dataset=dict(
        type='MultiImageMixDataset',
        dataset=dict(
            **_dataset,
            ann_file='annotations/instances_train.json',
            data_prefix=dict(img='images/train/'),
            filter_cfg=dict(filter_empty_gt=True, min_size=1),
            pipeline=load_pipeline),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=4,
    num_workers=1,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        **_dataset,
        ann_file='annotations/instances_val.json',
        data_prefix=dict(img='images/val/'),
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(
    type='CocoMetric',
    ann_file=data_root + 'annotations/instances_val.json',
    metric=['bbox', 'segm'],
    format_only=False,
    backend_args=backend_args)
test_evaluator = val_evaluator

# Mask2Former + Swin-T, panoptic segmentation, COCO at data/coco, 50 epochs
# with large-scale jitter: MMDetection's own config with swin_mm's backbone
# (only the type changes; its name-keyed optimizer rules reach the same
# parameters). MMDetection's result: PQ 53.4.
_base_ = [
    'mmdet::mask2former/mask2former_swin-t-p4-w7-224_8xb2-lsj-50e_coco-panoptic.py'  # noqa
]
model = dict(backbone=dict(type='swin_mm.SwinTransformer'))

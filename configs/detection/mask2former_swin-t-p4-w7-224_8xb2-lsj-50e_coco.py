# Mask2Former + Swin-T, instance segmentation, COCO at data/coco, 50 epochs
# with large-scale jitter: MMDetection's own config with swin_mm's backbone.
# Only the type changes: the parameter tree is MMDetection's, so the
# config's custom_keys (backbone lr x0.1, no decay on the patch merging and
# block norms) reach the same parameters. MMDetection's result: 47.7 box /
# 44.7 mask AP.
_base_ = [
    'mmdet::mask2former/mask2former_swin-t-p4-w7-224_8xb2-lsj-50e_coco.py'
]  # noqa
model = dict(backbone=dict(type='swin_mm.SwinTransformer'))

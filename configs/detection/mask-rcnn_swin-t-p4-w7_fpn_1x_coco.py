# Mask R-CNN + Swin-T, 1x (12 epochs, steps at 8 and 11), COCO at data/coco.
# MMDetection's own recipe (AdamW 1e-4, wd 0.05 except position tables and
# norms, warm-up) with the swin_mm backbone.
_base_ = ['mmdet::swin/mask-rcnn_swin-t-p4-w7_fpn_1x_coco.py']
pretrained = 'https://github.com/SwinTransformer/storage/releases/download/v1.0.0/swin_tiny_patch4_window7_224.pth'  # noqa
model = dict(
    backbone=dict(
        _delete_=True,
        type='swin_mm.SwinTransformer',
        arch='tiny',
        drop_path_rate=0.2,
        out_indices=(0, 1, 2, 3),
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)))

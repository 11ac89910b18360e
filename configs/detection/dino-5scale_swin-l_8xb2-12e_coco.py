# DINO (5 scales) + Swin-L (window 12, ImageNet-22K 384 checkpoint), 12
# epochs, COCO at data/coco: MMDetection's own config with swin_mm's
# backbone (only the type changes). MMDetection's result: 57.2 box AP.
_base_ = ['mmdet::dino/dino-5scale_swin-l_8xb2-12e_coco.py']
model = dict(backbone=dict(type='swin_mm.SwinTransformer'))

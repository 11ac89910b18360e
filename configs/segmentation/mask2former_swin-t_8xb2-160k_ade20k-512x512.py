# Mask2Former + Swin-T, semantic segmentation, ADE20K 512x512, 160k
# iterations, batch 16 (8x2), data at data/ade/ADEChallengeData2016:
# MMSegmentation's own config with swin_mm's backbone (only the type
# changes; its custom_keys reach the same parameters). MMSegmentation's
# result: 48.66 mIoU.
_base_ = ['mmseg::mask2former/mask2former_swin-t_8xb2-160k_ade20k-512x512.py']
model = dict(backbone=dict(type='swin_mm.SwinTransformer'))

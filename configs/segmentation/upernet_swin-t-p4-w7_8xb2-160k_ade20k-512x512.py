# UperNet + Swin-T on ADE20K 512x512, 160k iterations, batch 16 (8x2):
# MMSegmentation's recipe (AdamW 6e-5, wd 0.01 except position tables and
# norms, 1500-iter linear warm-up, poly decay, auxiliary FCN head) with the
# swin_mm backbone. Data at data/ade/ADEChallengeData2016.
_base_ = [
    'mmseg::swin/swin-tiny-patch4-window7-in1k-pre_upernet_8xb2-160k_ade20k-512x512.py'  # noqa
]
pretrained = 'https://github.com/SwinTransformer/storage/releases/download/v1.0.0/swin_tiny_patch4_window7_224.pth'  # noqa
model = dict(
    backbone=dict(
        _delete_=True,
        type='swin_mm.SwinTransformer',
        arch='tiny',
        drop_path_rate=0.3,
        out_indices=(0, 1, 2, 3),
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)))

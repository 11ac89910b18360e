# UperNet + Swin-B on ADE20K 512x512, 160k iterations.
_base_ = ['./upernet_swin-t-p4-w7_8xb2-160k_ade20k-512x512.py']
pretrained = 'https://github.com/SwinTransformer/storage/releases/download/v1.0.0/swin_base_patch4_window7_224.pth'  # noqa
model = dict(
    backbone=dict(
        arch='base', init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    decode_head=dict(in_channels=[128, 256, 512, 1024]),
    auxiliary_head=dict(in_channels=512))

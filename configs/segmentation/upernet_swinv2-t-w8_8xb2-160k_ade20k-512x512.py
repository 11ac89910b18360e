# UperNet + Swin V2-T (window 8) on ADE20K 512x512, 160k iterations, batch
# 16 (8x2): MMSegmentation's Swin recipe (AdamW 6e-5, wd 0.01, 1500-iter
# warm-up, poly decay, auxiliary FCN head) with swin_mm's V2 backbone from
# the official ImageNet-1K V2 checkpoint; no weight decay on V2's
# position-bias MLP, logit scales and q / v biases. Data at
# data/ade/ADEChallengeData2016.
_base_ = [
    'mmseg::swin/swin-tiny-patch4-window7-in1k-pre_upernet_8xb2-160k_ade20k-512x512.py'  # noqa
]
pretrained = 'https://github.com/SwinTransformer/storage/releases/download/v2.0.0/swinv2_tiny_patch4_window8_256.pth'  # noqa
model = dict(
    backbone=dict(
        _delete_=True,
        type='swin_mm.SwinTransformerV2',
        arch='tiny',
        window_size=8,
        drop_path_rate=0.3,
        out_indices=(0, 1, 2, 3),
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)))
optim_wrapper = dict(
    paramwise_cfg=dict(
        custom_keys={
            'absolute_pos_embed': dict(decay_mult=0.),
            'relative_position_bias_table': dict(decay_mult=0.),
            'cpb_mlp': dict(decay_mult=0.),
            'logit_scale': dict(decay_mult=0.),
            'q_bias': dict(decay_mult=0.),
            'v_bias': dict(decay_mult=0.),
            'norm': dict(decay_mult=0.)
        }))

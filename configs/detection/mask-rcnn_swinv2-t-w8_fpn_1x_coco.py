# Mask R-CNN + Swin V2-T (window 8), 1x, COCO at data/coco: MMDetection's
# Swin recipe (AdamW 1e-4, wd 0.05, warm-up, steps at 8 and 11) with
# swin_mm's V2 backbone from the official ImageNet-1K V2 checkpoint. V2's
# position-bias MLP, logit scales and q / v biases get no weight decay, as
# in the official V2 training.
_base_ = ['mmdet::swin/mask-rcnn_swin-t-p4-w7_fpn_1x_coco.py']
pretrained = 'https://github.com/SwinTransformer/storage/releases/download/v2.0.0/swinv2_tiny_patch4_window8_256.pth'  # noqa
model = dict(
    backbone=dict(
        _delete_=True,
        type='swin_mm.SwinTransformerV2',
        arch='tiny',
        window_size=8,
        drop_path_rate=0.2,
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

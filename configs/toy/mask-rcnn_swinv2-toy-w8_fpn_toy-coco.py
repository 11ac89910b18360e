# The toy Mask R-CNN with a small swin_mm Swin V2 (C=48, depths 2,2,2,2,
# window 8) in place of V1; same data, heads and schedule.
_base_ = ['./mask-rcnn_swin-toy-p4-w7_fpn_toy-coco.py']
model = dict(
    backbone=dict(
        _delete_=True,
        type='swin_mm.SwinTransformerV2',
        arch=dict(
            embed_dims=48, depths=(2, 2, 2, 2), num_heads=(3, 6, 12, 24)),
        window_size=8,
        drop_path_rate=0.,
        out_indices=(0, 1, 2, 3)))
optim_wrapper = dict(
    paramwise_cfg=dict(
        custom_keys={
            'cpb_mlp': dict(decay_mult=0.),
            'logit_scale': dict(decay_mult=0.),
            'q_bias': dict(decay_mult=0.),
            'v_bias': dict(decay_mult=0.),
            'norm': dict(decay_mult=0.)
        }))

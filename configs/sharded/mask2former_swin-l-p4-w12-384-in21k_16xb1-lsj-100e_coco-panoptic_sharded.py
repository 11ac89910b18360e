# Mask2Former + Swin-L (window 12, ImageNet-22K 384 checkpoint), panoptic,
# COCO at data/coco, 100 epochs with large-scale jitter, sharded: FSDP
# through mmengine's FlexibleRunner with activation checkpointing in the
# backbone. MMDetection's own config otherwise (its result: PQ 57.6); its
# name-keyed rules (backbone lr x0.1, no decay on the patch-merging norms)
# reach the same parameters under sharding. Per GPU: docs/sharding.md.
_base_ = [
    'mmdet::mask2former/mask2former_swin-l-p4-w12-384-in21k_16xb1-lsj-100e_coco-panoptic.py'  # noqa
]
model = dict(backbone=dict(type='swin_mm.SwinTransformer', with_cp=True))
runner_type = 'FlexibleRunner'
strategy = dict(
    type='swin_mm.ShardedStrategy',
    model_wrapper=dict(type='swin_mm.ShardedDataParallel'))
optim_wrapper = dict(
    type='swin_mm.ShardedOptimWrapper',
    constructor='swin_mm.ShardedOptimWrapperConstructor')
custom_hooks = [dict(type='swin_mm.HeldBytesHook')]

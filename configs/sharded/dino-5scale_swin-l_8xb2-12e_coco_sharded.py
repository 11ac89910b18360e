# DINO (5 scales) + Swin-L, 12 epochs, COCO at data/coco, sharded: FSDP
# through mmengine's FlexibleRunner (parameters, gradients and optimizer
# state split over the GPUs, one unit per Swin block) with activation
# checkpointing in the backbone. MMDetection's own config otherwise (its
# result: 57.2 box AP). What it needs per GPU: docs/sharding.md.
#   tools/dist_train.sh configs/sharded/dino-5scale_swin-l_8xb2-12e_coco_sharded.py 8  # noqa
_base_ = ['mmdet::dino/dino-5scale_swin-l_8xb2-12e_coco.py']
model = dict(backbone=dict(type='swin_mm.SwinTransformer', with_cp=True))
runner_type = 'FlexibleRunner'
strategy = dict(
    type='swin_mm.ShardedStrategy',
    model_wrapper=dict(type='swin_mm.ShardedDataParallel'))
optim_wrapper = dict(
    type='swin_mm.ShardedOptimWrapper',
    constructor='swin_mm.ShardedOptimWrapperConstructor')
custom_hooks = [dict(type='swin_mm.HeldBytesHook')]

"""The config side of tools/train.py and tools/test.py, without running."""
import argparse

import pytest

from swin_mm.engine.launch import (add_common_args, add_test_args,
                                   apply_test_args, load_config)
from .conftest import DET_CFG, SEG_CFG


def parse_test_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_test_args(parser)
    add_common_args(parser)
    return parser.parse_args(list(argv))


def test_shipped_toolkit_configs_are_named_as_in_base():
    cfg = load_config('mmdet::swin/mask-rcnn_swin-t-p4-w7_fpn_1x_coco.py',
                      {'model.backbone.type': 'swin_mm.SwinTransformer'})
    assert cfg.default_scope == 'mmdet'
    assert cfg.model.backbone.type == 'swin_mm.SwinTransformer'
    assert cfg.work_dir.endswith('mask-rcnn_swin-t-p4-w7_fpn_1x_coco')
    with pytest.raises(ValueError, match="'mmdet::REL' or 'mmseg::REL'"):
        load_config('mmpretrain::swin_transformer/x.py')
    with pytest.raises(FileNotFoundError, match='no-such-config'):
        load_config('mmseg::swin/no-such-config.py')


def test_out_dumps_detections_beside_the_coco_metric():
    cfg = load_config(str(DET_CFG))
    apply_test_args(cfg, parse_test_args('--out', 'preds.pkl'))
    assert [e['type']
            for e in cfg.test_evaluator] == ['CocoMetric', 'DumpDetResults']
    assert cfg.test_evaluator[1]['out_file_path'] == 'preds.pkl'
    with pytest.raises(ValueError, match='give a .pkl file'):
        apply_test_args(
            load_config(str(DET_CFG)), parse_test_args('--out', 'preds.json'))


def test_out_writes_label_maps_for_segmentation():
    cfg = load_config(str(SEG_CFG))
    apply_test_args(cfg, parse_test_args('--out', 'maps'))
    assert cfg.test_evaluator['output_dir'] == 'maps'


def test_show_dir_turns_on_the_toolkits_visualization_hook():
    det = load_config(str(DET_CFG))
    apply_test_args(det, parse_test_args('--show-dir', 'drawn'))
    hook = det.default_hooks.visualization
    assert hook.type == 'DetVisualizationHook' and hook.draw
    assert hook.test_out_dir == 'drawn'
    seg = load_config(str(SEG_CFG))
    apply_test_args(seg, parse_test_args('--show', '--wait-time', '1'))
    hook = seg.default_hooks.visualization
    assert hook.type == 'SegVisualizationHook' and hook.draw
    assert hook.show and hook.wait_time == 1


def test_tta_wraps_the_model_where_the_config_defines_it():
    cfg = load_config(str(SEG_CFG))
    model = cfg.model
    apply_test_args(cfg, parse_test_args('--tta'))
    assert cfg.model['type'] == 'SegTTAModel'
    assert cfg.model['module'] == model
    assert cfg.test_dataloader.dataset.pipeline == cfg.tta_pipeline
    with pytest.raises(
            ValueError, match='--tta needs tta_model and '
            'tta_pipeline'):
        apply_test_args(load_config(str(DET_CFG)), parse_test_args('--tta'))


def test_backbone_runtime_adds_the_runtime_hook():
    cfg = load_config(str(DET_CFG))
    apply_test_args(
        cfg,
        parse_test_args('--backbone-runtime', 'openvino', '--precision',
                        'int8', '--model', 'q/backbone_neck_int8.xml'))
    hook = cfg.custom_hooks[-1]
    assert hook == dict(
        type='swin_mm.BackboneRuntimeHook',
        runtime='openvino',
        precision='int8',
        model_file='q/backbone_neck_int8.xml')
    assert cfg.custom_hooks[:-1] == load_config(str(DET_CFG)).custom_hooks


def test_precision_or_model_without_backbone_runtime_is_refused():
    for argv in (('--precision', 'bf16'), ('--model', 'm.onnx')):
        with pytest.raises(ValueError, match='give --backbone-runtime'):
            apply_test_args(load_config(str(DET_CFG)), parse_test_args(*argv))


def test_runtime_hook_refuses_int8_in_onnxruntime_before_loading():
    from swin_mm.engine import BackboneRuntimeHook
    with pytest.raises(ValueError, match='does not run int8'):
        BackboneRuntimeHook('onnxruntime', 'int8')

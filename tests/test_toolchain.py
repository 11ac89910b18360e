"""The installed stack works: mmcv's compiled CPU ops, mmdet and mmseg."""
import torch


def test_mmcv_nms_runs_compiled_op_on_cpu():
    from mmcv.ops import nms
    boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 11., 11.],
                          [20., 20., 30., 30.]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    dets, keep = nms(boxes, scores, iou_threshold=0.5)
    # Boxes 0 and 1 overlap with IoU 81/119 = 0.68 > 0.5: box 1 is dropped.
    assert keep.tolist() == [0, 2]
    assert torch.allclose(dets[:, 4], torch.tensor([0.9, 0.7]))


def test_mmcv_roi_align_runs_compiled_op_on_cpu():
    from mmcv.ops import RoIAlign

    # A ramp 0..15 on a 4x4 map; aligned=True samples pixel centres.
    feat = torch.arange(16.).view(1, 1, 4, 4)
    rois = torch.tensor([[0., 0., 0., 4., 4.]])  # batch index, x1, y1, x2, y2
    out = RoIAlign((2, 2), spatial_scale=1., sampling_ratio=2,
                   aligned=True)(feat, rois)
    assert out.shape == (1, 1, 2, 2)
    # Each output bin averages one 2x2 quadrant of the ramp.
    expected = torch.tensor([[2.5, 4.5], [10.5, 12.5]])
    assert torch.allclose(out[0, 0], expected, atol=1e-5)


def test_mmdet_and_mmseg_import_with_this_mmcv():
    import mmcv
    import mmdet
    import mmseg
    from mmdet.models.backbones import SwinTransformer as DetSwin
    from mmseg.models.backbones import SwinTransformer as SegSwin
    assert mmcv.__version__ == '2.1.0'
    assert mmdet.__version__ == '3.3.0'
    assert mmseg.__version__ == '1.2.2'
    assert DetSwin is not SegSwin


def test_torch_is_the_cpu_build():
    assert torch.__version__.startswith('2.13.0')
    assert torch.version.cuda is None

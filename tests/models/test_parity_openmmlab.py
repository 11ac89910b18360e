"""Same parameter tree, same weights, same features as MMDetection's and
MMSegmentation's Swin.

Their implementations were written elsewhere; matching them (fp32, max abs
difference <= 1e-4) is what lets their published COCO / ADE20K results carry
over to swin_mm, and matching their parameter tree (names, shapes, order)
is what lets their checkpoints, configs' name-keyed rules and
``frozen_stages`` mean the same parameters.
"""
import pytest
import torch

from swin_mm.checkpoint import from_openmmlab, to_openmmlab
from swin_mm.models import SwinTransformer
from ..helpers import randomize

TOL = 1e-4


def _openmmlab_swin(toolkit: str, **kwargs):
    if toolkit == 'mmdet':
        from mmdet.models.backbones import SwinTransformer as Theirs
    else:
        from mmseg.models.backbones import SwinTransformer as Theirs
    return Theirs(**kwargs)


def _pair(toolkit: str, window_size: int = 7, **ours_kwargs):
    """Swin-T from the toolkit and swin_mm with the toolkit's weights."""
    theirs = _openmmlab_swin(
        toolkit, window_size=window_size, drop_path_rate=0.)
    randomize(theirs)
    ours = SwinTransformer(
        'tiny', window_size=window_size, drop_path_rate=0., **ours_kwargs)
    ours.load_state_dict(theirs.state_dict(), strict=True)
    theirs.eval()  # their train() override returns None, not the module
    ours.eval()
    return theirs, ours


def _max_diffs(theirs, ours, size):
    x = torch.randn(1, 3, *size)
    with torch.no_grad():
        return [(a - b).abs().max().item() for a, b in zip(theirs(x), ours(x))]


@pytest.fixture(scope='module', params=['mmdet', 'mmseg'])
def always_shift_pair(request):
    return _pair(request.param, always_shift=True)


@pytest.fixture(scope='module', params=['mmdet', 'mmseg'])
def default_pair(request):
    return _pair(request.param)


@pytest.mark.parametrize('size', [(224, 224), (511, 511), (112, 137),
                                  (300, 451)])
def test_parity_with_openmmlab_swin_always_shift(always_shift_pair, size):
    diffs = _max_diffs(*always_shift_pair, size)
    assert len(diffs) == 4 and max(diffs) <= TOL, diffs


@pytest.mark.parametrize('size', [(448, 448), (511, 511), (300, 451)])
def test_parity_with_openmmlab_swin_default_when_stages_exceed_window(
        default_pair, size):
    diffs = _max_diffs(*default_pair, size)
    assert len(diffs) == 4 and max(diffs) <= TOL, diffs


def test_parity_with_mmdet_swin_window_12():
    # Last stage 13 x 15 > 12: the default shifts everywhere, as mmdet does.
    diffs = _max_diffs(*_pair('mmdet', window_size=12), (416, 480))
    assert max(diffs) <= TOL, diffs


def test_default_skips_shift_only_where_a_stage_fits_in_one_window():
    """At 224 the last stage is 7x7 = one window: the default (official
    classifier rule) does not shift it, MMDetection does."""
    theirs, ours = _pair('mmdet')
    diffs = _max_diffs(theirs, ours, (224, 224))
    assert max(diffs[:3]) <= TOL, diffs
    assert diffs[3] > 1e-2, diffs  # the last stage really differs
    # ... and equals always-shift with the last stage's shift turned off.
    no_shift_last = SwinTransformer(
        'tiny', drop_path_rate=0., always_shift=True)
    no_shift_last.load_state_dict(ours.state_dict())
    for block in no_shift_last.stages[3].blocks:
        block.attn.shift_size = 0
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        for a, b in zip(ours(x), no_shift_last.eval()(x)):
            assert torch.equal(a, b)


def test_openmmlab_layout_round_trips():
    theirs = _openmmlab_swin('mmdet', drop_path_rate=0.)
    randomize(theirs)
    state = theirs.state_dict()
    back = to_openmmlab(from_openmmlab(state))
    assert list(back) == list(state)
    for key in state:
        assert torch.equal(back[key], state[key]), key


def test_parameter_count_equals_openmmlab_swin():
    for arch in ('tiny', 'base'):
        kwargs = SwinTransformer.arch_zoo[arch]
        theirs = _openmmlab_swin('mmdet', **kwargs)
        ours = SwinTransformer(arch)
        assert (sum(p.numel() for p in ours.parameters()) == sum(
            p.numel() for p in theirs.parameters()))


TREE_CASES = [
    dict(),
    dict(use_abs_pos_embed=True, pretrain_img_size=(192, 256)),
    dict(out_indices=(1, 3), window_size=12, qkv_bias=False),
    dict(
        patch_norm=False, depths=(2, 2, 2, 2, 2),
        num_heads=(3, 6, 12, 24, 48)),
]


@pytest.mark.parametrize('toolkit', ['mmdet', 'mmseg'])
@pytest.mark.parametrize('case', TREE_CASES)
def test_state_dict_is_the_toolkits_key_for_key(toolkit, case):
    kwargs = dict(SwinTransformer.arch_zoo['tiny'], **case)
    if 'depths' in case:
        kwargs['strides'] = (4, ) + (2, ) * (len(case['depths']) - 1)
    theirs = _openmmlab_swin(toolkit, **kwargs).state_dict()
    ours = SwinTransformer(**kwargs).state_dict()
    assert list(ours) == list(theirs)
    for key in theirs:
        assert ours[key].shape == theirs[key].shape, key
        if key.endswith('relative_position_index'):
            assert torch.equal(ours[key], theirs[key]), key


@pytest.mark.parametrize('toolkit', ['mmdet', 'mmseg'])
def test_swin_mm_checkpoint_loads_into_the_toolkits_swin_strictly(toolkit):
    ours = SwinTransformer('tiny', drop_path_rate=0., always_shift=True)
    randomize(ours)
    theirs = _openmmlab_swin(toolkit, drop_path_rate=0.)
    theirs.load_state_dict(ours.state_dict(), strict=True)
    theirs.eval()
    ours.eval()
    diffs = _max_diffs(theirs, ours, (160, 224))
    assert len(diffs) == 4 and max(diffs) <= TOL, diffs


@pytest.mark.parametrize('frozen_stages', [0, 1, 2, 4])
def test_frozen_stages_freezes_the_toolkits_parameters(frozen_stages):
    kwargs = dict(frozen_stages=frozen_stages, use_abs_pos_embed=True)
    theirs = _openmmlab_swin('mmdet', **kwargs)
    theirs.train()
    ours = SwinTransformer('tiny', **kwargs).train()

    def frozen(model):
        return [n for n, p in model.named_parameters() if not p.requires_grad]

    assert frozen(ours) == frozen(theirs)
    assert frozen(ours), 'nothing frozen'
    if frozen_stages == 1:
        assert 'stages.0.downsample.norm.weight' in frozen(ours)

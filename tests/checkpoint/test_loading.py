"""Loading is safe, resizes what depends on window/image size, and fails
clearly on anything that does not fit."""
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from swin_mm.checkpoint import (CheckpointError, load_pretrained,
                                read_checkpoint, to_official)
from swin_mm.models import SwinTransformer
from .helpers import SMALL, assert_same_features, features, make_swin


class RunsCodeWhenUnpickled:
    """A crafted payload: unpickling it calls exec() on a string."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f'open({self.marker!r}, "w").write("pwned")', ))


@pytest.mark.slow
def test_crafted_pickle_does_not_run_code(tmp_path):
    marker = tmp_path / 'pwned'
    path = tmp_path / 'evil.pth'
    torch.save(
        {
            'state_dict': {
                'x': torch.zeros(1)
            },
            'payload': RunsCodeWhenUnpickled(marker)
        }, path)

    with pytest.raises(
            CheckpointError,
            match=r'object \(\S*exec\) that weights-only '
            'loading refuses'):
        read_checkpoint(str(path))
    with pytest.raises(CheckpointError, match='allow_unsafe_unpickle'):
        load_pretrained(make_swin(), str(path))
    assert not marker.exists()

    # The file really is malicious: full unpickling runs its code.
    subprocess.run([
        sys.executable, '-c',
        f'import torch; torch.load({str(path)!r}, weights_only=False)'
    ],
                   check=True)
    assert marker.read_text() == 'pwned'


def test_full_unpickling_only_on_explicit_opt_in(tmp_path):
    path = tmp_path / 'objects.pth'
    torch.save(
        {
            'state_dict': {
                'w': torch.ones(2)
            },
            'meta': {
                'when': __import__('datetime').date(2021, 3, 25)
            }
        }, path)
    with pytest.raises(CheckpointError):
        read_checkpoint(str(path))
    ckpt = read_checkpoint(str(path), allow_unsafe_unpickle=True)
    assert ckpt['meta']['when'].year == 2021


def test_missing_file_error_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match='no_such.pth'):
        load_pretrained(make_swin(), str(tmp_path / 'no_such.pth'))


@pytest.mark.parametrize('damage', ['truncate', 'garbage'])
def test_truncated_or_corrupt_file_gives_one_clear_error(tmp_path, damage):
    path = tmp_path / 'bad.pth'
    torch.save({'state_dict': make_swin().state_dict()}, path)
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2] if damage ==
                     'truncate' else b'not a checkpoint at all' * 100)
    with pytest.raises(CheckpointError, match='truncated or corrupt'):
        load_pretrained(make_swin(), str(path))


def test_unreachable_url_gives_one_clear_error(monkeypatch, tmp_path):
    monkeypatch.setattr(torch.hub, 'get_dir', lambda: str(tmp_path))
    # Port 9 on loopback: nothing listens, the connection is refused.
    with pytest.raises(CheckpointError, match='Could not download'):
        load_pretrained(make_swin(), 'http://127.0.0.1:9/swin_tiny.pth')


def test_other_architecture_is_an_error_naming_layout_and_mismatches(tmp_path):
    path = tmp_path / 'wider.pth'
    wider = SwinTransformer(**{**SMALL, 'embed_dims': 64})
    torch.save({'model': to_official(wider.state_dict())}, path)
    with pytest.raises(
            CheckpointError,
            match=r'detected layout: official.*only \d+ of .* '
            r'match.*patch_embed\.projection\.weight: checkpoint '
            r'\(64, 3, 4, 4\) vs model \(32, 3, 4, 4\)'):
        load_pretrained(make_swin(), str(path))


def test_deeper_checkpoint_is_an_error_unless_partial_allowed(tmp_path):
    path = tmp_path / 'deeper.pth'
    deeper = SwinTransformer(**{**SMALL, 'depths': (2, 2, 6, 2)})
    torch.save(deeper.state_dict(), path)
    with pytest.raises(
            CheckpointError,
            match=r'keys the model does not have: '
            r'stages\.2\.blocks\.2\.'):
        load_pretrained(make_swin(), str(path))
    report = load_pretrained(make_swin(), str(path), allow_partial=True)
    assert report.missing == [] and len(report.unexpected) > 0


def test_non_swin_checkpoint_is_an_error(tmp_path):
    path = tmp_path / 'resnet.pth'
    torch.save(
        {
            'state_dict': {
                'conv1.weight': torch.zeros(64, 3, 7, 7),
                'layer1.0.bn1.weight': torch.zeros(64)
            }
        }, path)
    with pytest.raises(
            CheckpointError, match='Not a Swin Transformer checkpoint'):
        load_pretrained(make_swin(), str(path))


def test_use_ema_without_ema_weights_is_an_error(tmp_path):
    path = tmp_path / 'plain.pth'
    torch.save({'state_dict': make_swin().state_dict()}, path)
    with pytest.raises(CheckpointError, match='no EMA weights'):
        load_pretrained(make_swin(), str(path), use_ema=True)


def test_window_7_checkpoint_loads_into_window_12(tmp_path, source_model, x):
    path = tmp_path / 'w7.pth'
    torch.save({'model': to_official(source_model.state_dict())}, path)
    model = make_swin(window_size=12)
    report = load_pretrained(model, str(path))
    assert len(report.resized) == 8  # one table per block
    table7 = source_model.stages[1].blocks[1].attn.w_msa.\
        relative_position_bias_table
    table12 = model.stages[1].blocks[1].attn.w_msa.relative_position_bias_table
    heads = table7.shape[1]
    expected = F.interpolate(
        table7.detach().T.reshape(1, heads, 13, 13),
        size=(23, 23),
        mode='bicubic',
        align_corners=False).reshape(heads, 23 * 23).T
    assert torch.equal(table12.detach(), expected)
    # Index buffers come from the model's own window, not the checkpoint.
    assert model.stages[0].blocks[0].attn.w_msa.relative_position_index.max(
    ) == 23 * 23 - 1
    outs = features(model, x)
    assert [o.shape[1] for o in outs] == [32, 64, 128, 256]


def test_absolute_pos_embed_of_a_classifier_is_gridded_and_resized(
        tmp_path, x):
    source = make_swin(use_abs_pos_embed=True, pretrain_img_size=224)
    with torch.no_grad():  # every position and channel different
        source.absolute_pos_embed.normal_()
    official = to_official(source.state_dict())
    # The official classifier stores it as (1, L, C), row-major positions.
    official['absolute_pos_embed'] = source.absolute_pos_embed.detach()
    path = tmp_path / 'ape.pth'
    torch.save({'model': official}, path)

    same = make_swin(use_abs_pos_embed=True, pretrain_img_size=224)
    load_pretrained(same, str(path))
    assert torch.equal(same.absolute_pos_embed, source.absolute_pos_embed)

    bigger = make_swin(use_abs_pos_embed=True, pretrain_img_size=(384, 320))
    report = load_pretrained(bigger, str(path))
    assert report.resized == ['absolute_pos_embed']
    grid = source.absolute_pos_embed.detach().view(1, 56, 56, 32).permute(
        0, 3, 1, 2)  # 1, C, 56, 56: channel c of position (y, x)
    expected = F.interpolate(
        grid, size=(96, 80), mode='bicubic',
        align_corners=False).flatten(2).transpose(1, 2)  # 1, 96*80, C
    assert bigger.absolute_pos_embed.shape == (1, 96 * 80, 32)
    torch.testing.assert_close(
        bigger.absolute_pos_embed.detach(), expected, rtol=0, atol=1e-6)


def test_init_cfg_pretrained_loads_through_init_weights(
        tmp_path, source_model, x):
    path = tmp_path / 'det.pth'
    torch.save(
        {
            'state_dict': {
                f'backbone.{k}': v
                for k, v in source_model.state_dict().items()
            }
        }, path)
    model = make_swin(init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    model.init_weights()
    assert_same_features(features(source_model, x), features(model, x))


def test_init_cfg_prefix_selects_a_sub_model(tmp_path, source_model, x):
    path = tmp_path / 'wrapped.pth'
    torch.save(
        {
            'model.encoder.' + k: v
            for k, v in source_model.state_dict().items()
        }, path)
    model = make_swin(
        init_cfg=dict(
            type='Pretrained', checkpoint=str(path), prefix='model.encoder.'))
    model.init_weights()
    assert_same_features(features(source_model, x), features(model, x))


def test_init_cfg_with_unknown_option_fails_at_construction():
    with pytest.raises(
            ValueError,
            match=r"Unknown Pretrained init_cfg "
            r"options \['strict'\]"):
        make_swin(
            init_cfg=dict(type='Pretrained', checkpoint='x.pth', strict=True))

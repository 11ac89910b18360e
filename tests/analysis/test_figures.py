"""The window and feature figures are drawn from the real helpers."""
from pathlib import Path

import matplotlib.image as mpimg
import pytest

from swin_mm.analysis import feature_figures, window_figures


@pytest.fixture
def tools():
    return window_figures, feature_figures


def _assert_png(path, min_side=100):
    path = Path(path)
    assert path.is_file() and path.stat().st_size > 1000
    image = mpimg.imread(path)
    assert min(image.shape[:2]) >= min_side
    assert image[..., :3].std() > 0.01  # not a blank canvas


@pytest.mark.parametrize('argv', [
    ['--size', '8', '8', '--window-size', '4'],
    ['--size', '13', '17', '--window-size', '7', '--shift', '3'],
])
def test_window_figures_are_written(tools, tmp_path, argv):
    paths = tools[0].main(argv + ['--out-dir', str(tmp_path)])
    assert [Path(p).name for p in paths] == [
        'window_partition.png', 'shift_regions.png', 'shift_masks.png',
        'relative_position_index.png'
    ]
    for path in paths:
        _assert_png(path)


@pytest.mark.parametrize('argv,message', [
    (['--size', '5', '5', '--window-size', '7'], 'larger than the 5x5 map'),
    (['--window-size', '4', '--shift', '4'], '--shift must be in 1..3'),
    (['--window-size', '1'], '--window-size must be >= 2'),
])
def test_window_figures_reject_bad_arguments(tools, capsys, argv, message):
    with pytest.raises(SystemExit):
        tools[0].main(argv)
    assert message in capsys.readouterr().err


def test_feature_grid_is_written(tools, tmp_path, capsys):
    out = tmp_path / 'features.png'
    tools[1].main(['--size', '96', '128', '--top', '2', '--out', str(out)])
    _assert_png(out, min_side=300)
    assert 'stage 4 (768, 3, 4)' in capsys.readouterr().out


def test_feature_grid_rejects_missing_image(tools, capsys, tmp_path):
    with pytest.raises(SystemExit):
        tools[1].main(['--image', str(tmp_path / 'nope.jpg')])
    assert 'no such file' in capsys.readouterr().err

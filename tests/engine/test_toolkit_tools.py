"""MMDetection's and MMSegmentation's own tools (shipped in their wheels
under ``.mim/tools``) train, resume and test swin_mm configs, with torch's
weights-only loading left on; the allowance that makes their checkpoints
load stays as narrow as swin_mm's own."""
import re
import subprocess
import sys
from pathlib import Path

import mmdet
import mmseg
import pytest

from .conftest import DET_CFG, ROOT, SEG_CFG, run_tool, small_run_options

pytestmark = pytest.mark.slow

TOOLS = {
    'mmdet': (Path(mmdet.__file__).parent / '.mim/tools', DET_CFG, True,
              r'coco/bbox_mAP: [\d.]+'),
    'mmseg': (Path(mmseg.__file__).parent / '.mim/tools', SEG_CFG, False,
              r'mIoU: [\d.]+'),
}


@pytest.mark.parametrize('toolkit', sorted(TOOLS))
def test_toolkit_train_resume_and_test_run_swin_mm_configs(
        toolkit, toy_root, tmp_path):
    tools, config, det, metric = TOOLS[toolkit]
    work = tmp_path / 'work'
    # Train 2 iterations, resume to 3, test the last checkpoint: resume and
    # test read mmengine checkpoints (with their logging objects) through
    # torch.load's weights-only default.
    train = run_tool(tools / 'train.py', config, '--work-dir', work,
                     '--cfg-options', *small_run_options(toy_root, 2, det))
    assert train.returncode == 0, train.stderr[-3000:]
    resume = run_tool(tools / 'train.py', config, '--work-dir', work,
                      '--resume', '--cfg-options',
                      *small_run_options(toy_root, 3, det))
    assert resume.returncode == 0, resume.stderr[-3000:]
    log = resume.stdout + resume.stderr
    assert 'resumed epoch: 0, iter: 2' in log
    assert re.search(r'Iter\(train\) \[3/3\]', log)
    test = run_tool(tools / 'test.py', config, work / 'iter_3.pth',
                    '--work-dir', tmp_path / 'test', '--cfg-options',
                    *small_run_options(toy_root, 3, det))
    assert test.returncode == 0, test.stderr[-3000:]
    assert re.search(metric, test.stdout + test.stderr)


CRAFTED = '''
import pickle, sys, torch
import swin_mm  # what building a swin_mm config imports

class Exec:
    def __reduce__(self):
        return (exec, ('raise SystemExit(3)', ))

class Getattr:
    def __reduce__(self):
        from mmengine.logging.history_buffer import HistoryBuffer
        return (getattr, (HistoryBuffer, '__init__'))

for payload in (Exec(), Getattr()):
    torch.save({'x': payload}, sys.argv[1])
    try:
        torch.load(sys.argv[1])
    except pickle.UnpicklingError as e:
        print('refused:', ' '.join(str(e).split()))
'''


def test_importing_swin_mm_still_refuses_crafted_checkpoints(tmp_path):
    out = subprocess.run(
        [sys.executable, '-c', CRAFTED,
         str(tmp_path / 'crafted.pth')],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    refused = out.stdout.splitlines()
    assert len(refused) == 2, out.stdout
    assert 'Unsupported global: GLOBAL exec' in refused[0]
    assert 'only HistoryBuffer statistics methods' in refused[1]

"""MMDetection's Swin loads and matches swin_mm where mmcv has no compiled
ops (the GPU check's machine), simulated by refusing ``mmcv._ext``."""
import json
import subprocess
import sys
from pathlib import Path

from benchmarks.mmdet_swin import mmdet_swin_class

ROOT = Path(__file__).resolve().parents[2]

WITHOUT_OPS = r'''
import importlib.abc, json, sys

class NoCompiledOps(importlib.abc.MetaPathFinder):
    """mmcv as built with MMCV_WITH_OPS=0: no mmcv._ext."""
    def find_spec(self, name, path, target=None):
        if name == 'mmcv._ext':
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)

sys.meta_path.insert(0, NoCompiledOps())
import torch
try:
    import mmdet.models
    plain_import = 'worked'
except ModuleNotFoundError as error:
    plain_import = error.name
from benchmarks.mmdet_swin import mmdet_swin_class
from swin_mm.models import SwinTransformer

cls = mmdet_swin_class()
assert mmdet_swin_class() is cls  # a second call finds it loaded
arch = dict(embed_dims=32, depths=(2, 2, 2, 2), num_heads=(1, 2, 2, 4))
theirs = cls(**arch, drop_path_rate=0.)
with torch.no_grad():
    for p in theirs.parameters():
        p.copy_(0.05 * torch.randn_like(p))
ours = SwinTransformer(arch, drop_path_rate=0., always_shift=True)
ours.load_state_dict(theirs.state_dict(), strict=True)
theirs.eval()
ours.eval()
x = torch.randn(2, 3, 97, 131)
with torch.no_grad():
    diff = max((a - b).abs().max().item() for a, b in zip(theirs(x), ours(x)))
print(json.dumps(dict(plain_import=plain_import, module=cls.__module__,
                      ext_loaded='mmcv._ext' in sys.modules, diff=diff)))
'''


def test_mmdet_swin_loads_without_mmcv_ops_and_matches_swin_mm():
    proc = subprocess.run([sys.executable, '-c', WITHOUT_OPS],
                          cwd=ROOT,
                          capture_output=True,
                          text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result['plain_import'] == 'mmcv._ext'  # the ops really are gone
    assert result['module'] == 'mmdet.models.backbones.swin'
    assert not result['ext_loaded']
    assert result['diff'] <= 1e-4, result


def test_mmdet_swin_class_is_mmdet_own_where_ops_exist():
    from mmdet.models.backbones import SwinTransformer
    assert mmdet_swin_class() is SwinTransformer

"""The code follows the style pinned in setup.cfg (flake8, 79 columns)."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]


def test_code_passes_flake8():
    out = subprocess.run(
        [sys.executable, '-m', 'flake8', 'swin_mm', 'tools', 'tests',
         'configs', 'benchmarks'], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr

"""The code follows the style pinned in setup.cfg (flake8, isort and yapf,
79 columns), as `make lint` checks it."""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
LINTED = ['swin_mm', 'tools', 'tests', 'configs', 'benchmarks']


@pytest.mark.slow
@pytest.mark.parametrize(
    'command', [
        ['flake8'],
        ['isort', '--check-only', '--diff'],
        ['yapf', '--diff', '--recursive'],
    ],
    ids=lambda command: command[0])
def test_code_follows_the_pinned_style(command):
    out = subprocess.run([sys.executable, '-m', *command, *LINTED],
                         cwd=ROOT,
                         capture_output=True,
                         text=True)
    assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]

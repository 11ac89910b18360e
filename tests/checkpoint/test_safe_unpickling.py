"""mmengine checkpoints load weights-only; nothing else is let through."""
import pickle

import numpy as np
import pytest
import torch
from mmengine.logging import MessageHub
from mmengine.logging.history_buffer import HistoryBuffer

from swin_mm.checkpoint.safe_unpickling import allow_mmengine_checkpoints


@pytest.fixture(autouse=True)
def _allowed():
    allow_mmengine_checkpoints()


def test_message_hub_with_history_buffers_loads_weights_only(tmp_path):
    hub = MessageHub.get_instance('safe-ckpt-test')
    for step, value in enumerate([3.0, 2.0, 1.5]):
        hub.update_scalar('train/loss', value)
        hub.update_scalar('train/lr', np.float64(1e-4 * step))
    hub.update_info('iter', 3)
    path = tmp_path / 'ckpt.pth'
    torch.save(
        {
            'meta': {
                'iter': 3,
                'seed': np.int64(0)
            },
            'message_hub': hub.state_dict(),
            'state_dict': {
                'w': torch.ones(2)
            }
        }, path)
    loaded = torch.load(path, weights_only=True)
    buffer = loaded['message_hub']['log_scalars']['train/loss']
    assert isinstance(buffer, HistoryBuffer)
    assert buffer.mean() == pytest.approx(6.5 / 3)
    assert buffer.min() == 1.5 and buffer.current() == 1.5
    assert loaded['meta']['seed'] == 0


class _GetattrPayload:
    """Unpickles as getattr(owner, name)."""

    def __init__(self, owner, name):
        self.owner, self.name = owner, name

    def __reduce__(self):
        return (getattr, (self.owner, self.name))


@pytest.mark.parametrize('owner,name', [
    (HistoryBuffer, '__init__'),
    (HistoryBuffer, '__class__'),
    (np.ndarray, 'tofile'),
])
def test_getattr_is_limited_to_history_buffer_statistics(
        tmp_path, owner, name):
    path = tmp_path / 'crafted.pth'
    torch.save({'x': _GetattrPayload(owner, name)}, path)
    with pytest.raises(
            pickle.UnpicklingError,
            match='only HistoryBuffer statistics methods'):
        torch.load(path, weights_only=True)


def test_code_execution_payload_is_still_refused(tmp_path):

    class Exec:

        def __reduce__(self):
            return (exec, ('raise SystemExit(3)', ))

    path = tmp_path / 'exec.pth'
    torch.save({'x': Exec()}, path)
    with pytest.raises(pickle.UnpicklingError, match='exec'):
        torch.load(path, weights_only=True)

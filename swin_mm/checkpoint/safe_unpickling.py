"""Weights-only loading of mmengine's own training checkpoints.

torch >= 2.6 loads with ``weights_only=True`` by default, and an mmengine
0.10.7 checkpoint holds more than tensors: its ``message_hub`` keeps
:class:`~mmengine.logging.HistoryBuffer` objects with numpy arrays and
scalars, and each buffer refers to its statistics methods as
``getattr(HistoryBuffer, 'mean')``. So ``--resume`` and loading a trained
checkpoint fail, in swin_mm's tools and in MMDetection's and
MMSegmentation's own. Rather than turning weights-only loading off (which
lets a checkpoint file run any code), exactly these are allowed, for the
whole process, as soon as swin_mm is imported (which building a config with
a ``swin_mm.*`` type does):

- ``HistoryBuffer`` itself;
- numpy's array, dtype and scalar reconstructors, for numeric dtypes only;
- ``getattr`` *replaced* by :func:`history_buffer_method`, which resolves
  only ``HistoryBuffer.<registered statistic>`` and refuses anything else.
"""
import pickle
from typing import Any, List

import numpy as np
import torch
from mmengine.logging.history_buffer import HistoryBuffer

# HistoryBuffer adds these four on first construction; others register.
_BUILTIN_STATISTICS = ('min', 'max', 'current', 'mean')
_NUMERIC_DTYPES = (np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8,
                   np.uint16, np.uint32, np.uint64, np.float16, np.float32,
                   np.float64)


def history_buffer_method(owner: Any, name: str) -> Any:
    """Stand-in for ``getattr`` while unpickling: only a HistoryBuffer
    statistics method may be looked up."""
    allowed = set(_BUILTIN_STATISTICS) | set(HistoryBuffer._statistics_methods)
    if owner is HistoryBuffer and name in allowed:
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'checkpoint asked for getattr({owner!r}, {name!r}); only '
        f'HistoryBuffer statistics methods {sorted(allowed)} are allowed')


def mmengine_checkpoint_globals() -> List:
    """What :func:`torch.serialization.add_safe_globals` needs for mmengine
    0.10.7 checkpoints, beyond tensors and plain containers."""
    multiarray = np.core.multiarray
    return [
        HistoryBuffer,
        multiarray._reconstruct,
        multiarray.scalar,
        np.ndarray,
        np.dtype,
        *(type(np.dtype(t)) for t in _NUMERIC_DTYPES),
        # pickle protocol 2 writes builtins under their Python 2 name.
        (history_buffer_method, '__builtin__.getattr'),
        (history_buffer_method, 'builtins.getattr'),
    ]


def allow_mmengine_checkpoints() -> None:
    """Allow :func:`mmengine_checkpoint_globals` for weights-only
    unpickling in this process (``import swin_mm`` calls it)."""
    torch.serialization.add_safe_globals(mmengine_checkpoint_globals())

"""Training hooks of swin_mm."""
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from mmengine.dist import get_rank, get_world_size, master_only
from mmengine.hooks import Hook

from swin_mm.registry import HOOKS


def _check_window(window: int) -> None:
    if not isinstance(window, int) or window < 1:
        raise ValueError(f'window must be a positive int (iterations to '
                         f'average), got {window!r}')


def trailing_mean(values: Sequence[float], window: int) -> np.ndarray:
    """Each value averaged with up to ``window - 1`` values before it.

    NaN entries (iterations where a loss was absent) are skipped; a point
    whose whole window is NaN stays NaN.
    """
    _check_window(window)
    values = np.asarray(values, dtype=np.float64)
    present = ~np.isnan(values)
    # Running sums with a leading 0, so a window [i - w + 1, i] is a
    # difference of two entries: (N + 1,)
    sums = np.concatenate([[0.], np.cumsum(np.where(present, values, 0.))])
    counts = np.concatenate([[0], np.cumsum(present)])
    end = np.arange(1, len(values) + 1)
    start = np.maximum(end - window, 0)
    count = counts[end] - counts[start]
    with np.errstate(invalid='ignore', divide='ignore'):
        return np.where(count > 0, (sums[end] - sums[start]) / count, np.nan)


@HOOKS.register_module()
class LossCurveHook(Hook):
    """Write a PNG of the training losses to the work dir when training ends.

    Args:
        filename: Name of the PNG inside ``runner.work_dir``.
        keys: Loss names to plot; by default every logged ``loss*`` value.
        window: Plot each loss averaged over this many iterations (as
            mmengine's logger smooths what it prints); 1 plots raw values.
    """
    priority = 'VERY_LOW'

    def __init__(self,
                 filename: str = 'loss_curve.png',
                 keys: Optional[Sequence[str]] = None,
                 window: int = 20) -> None:
        _check_window(window)  # fail when the config is built
        self.filename = filename
        self.keys = keys
        self.window = window
        self.history: List[Tuple[int, Dict[str, float]]] = []

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs: Optional[dict] = None) -> None:
        if not outputs:
            return
        losses = {
            k: v.item() if hasattr(v, 'item') else float(v)
            for k, v in outputs.items()
            if k.startswith('loss') and (self.keys is None or k in self.keys)
        }
        self.history.append((runner.iter + 1, losses))

    @master_only
    def after_train(self, runner) -> None:
        if not self.history:
            return
        import matplotlib
        matplotlib.use('Agg')
        import matplotlib.pyplot as plt
        steps = [step for step, _ in self.history]
        names = sorted({k for _, losses in self.history for k in losses})
        fig, ax = plt.subplots(figsize=(8, 5))
        for name in names:
            raw = [
                losses.get(name, float('nan')) for _, losses in self.history
            ]
            ax.plot(
                steps,
                trailing_mean(raw, self.window),
                label=name,
                linewidth=2 if name == 'loss' else 1)
        ax.set_xlabel('iteration')
        ax.set_ylabel('loss')
        ax.set_yscale('log')
        smoothing = (f' (mean of {self.window} iterations)'
                     if self.window > 1 else '')
        ax.set_title(osp.basename(runner.work_dir) + smoothing)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        path = osp.join(runner.work_dir, self.filename)
        fig.savefig(path, dpi=100)
        plt.close(fig)
        runner.logger.info(f'Loss curve written to {path}')


@HOOKS.register_module()
class BackboneRuntimeHook(Hook):
    """Before testing, run the model's backbone (and neck) in another
    runtime or precision (:func:`swin_mm.deploy.run_backbone_in`); the
    rest of the model stays in PyTorch. ``tools/test.py
    --backbone-runtime`` adds it.

    Args:
        runtime: 'pytorch', 'onnxruntime' or 'openvino'.
        precision: 'f32', 'bf16' or 'int8'.
        model_file: An exported (or quantized) backbone / backbone + neck;
            without it the loaded model is exported into the run's log dir.
    """

    priority = 'LOWEST'

    def __init__(self,
                 runtime: str = 'pytorch',
                 precision: str = 'f32',
                 model_file: Optional[str] = None) -> None:
        from swin_mm.deploy.runtimes import check_runtime
        check_runtime(runtime, precision)  # fail before the model loads
        self.runtime = runtime
        self.precision = precision
        self.model_file = model_file

    def before_test(self, runner) -> None:
        from mmengine.model import is_model_wrapper

        from swin_mm.deploy.evaluation import run_backbone_in
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        if not hasattr(model, 'backbone'):  # a test-time augmentation wrapper
            model = model.module
        export_dir = runner.log_dir
        if get_world_size() > 1:  # each process exports its own file
            export_dir = osp.join(export_dir, f'rank{get_rank()}')
        where = run_backbone_in(model, self.runtime, self.precision,
                                self.model_file, export_dir)
        runner.logger.info(f'Backbone runtime: {where}')

"""Training hooks of swin_mm."""
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

from mmengine.dist import master_only
from mmengine.hooks import Hook

from swin_mm.registry import HOOKS


@HOOKS.register_module()
class LossCurveHook(Hook):
    """Write a PNG of the training losses to the work dir when training ends.

    Args:
        filename: Name of the PNG inside ``runner.work_dir``.
        keys: Loss names to plot; by default every logged ``loss*`` value.
    """
    priority = 'VERY_LOW'

    def __init__(self, filename: str = 'loss_curve.png',
                 keys: Optional[Sequence[str]] = None) -> None:
        self.filename = filename
        self.keys = keys
        self.history: List[Tuple[int, Dict[str, float]]] = []

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs: Optional[dict] = None) -> None:
        if not outputs:
            return
        losses = {k: v.item() if hasattr(v, 'item') else float(v)
                  for k, v in outputs.items()
                  if k.startswith('loss') and (self.keys is None
                                               or k in self.keys)}
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
            ax.plot(steps, [losses.get(name, float('nan'))
                            for _, losses in self.history],
                    label=name, linewidth=2 if name == 'loss' else 1)
        ax.set_xlabel('iteration')
        ax.set_ylabel('loss')
        ax.set_yscale('log')
        ax.set_title(osp.basename(runner.work_dir))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        path = osp.join(runner.work_dir, self.filename)
        fig.savefig(path, dpi=100)
        plt.close(fig)
        runner.logger.info(f'Loss curve written to {path}')

"""DistributedDataParallel for CPU processes (gloo)."""
import torch
from mmengine.model import MMDistributedDataParallel

from swin_mm.registry import MODEL_WRAPPERS


@MODEL_WRAPPERS.register_module()
class CPUDistributedDataParallel(MMDistributedDataParallel):
    """MMDistributedDataParallel that works on CPU-only processes.

    mmengine's runner always passes ``device_ids=[LOCAL_RANK]``, which
    DistributedDataParallel refuses for a module on the CPU. This wrapper
    drops ``device_ids`` when there is no CUDA device and keeps everything
    else; on GPUs it behaves exactly like its parent.
    """

    def __init__(self, module, **kwargs) -> None:
        if not torch.cuda.is_available():
            kwargs.pop('device_ids', None)
            kwargs.pop('output_device', None)
        super().__init__(module=module, **kwargs)

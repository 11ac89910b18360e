"""The fast path's settings: one object, changed with :func:`configure`."""
import contextlib
import dataclasses
from dataclasses import dataclass
from typing import Iterator, Optional


@dataclass
class FastPathConfig:
    """Tunables of the fast path (defaults: what measured best on the CPUs
    of docs/speed.md).

    Attributes:
        chunk_bytes: Bytes of the widest per-chunk intermediate (the MLP
            hidden layer) in chunked CPU inference: small enough for cache,
            well under the 32 MiB above which glibc maps every allocation
            afresh.
        project_first_pad_channels: Padding share x channels above which
            the qkv projection runs before the window gather.
        project_before_gather: Force that choice (True / False); None
            decides by ``project_first_pad_channels``.
        max_mask_runs: Above this many runs of windows sharing a mask, the
            fused attention runs once with every window's mask gathered.
        onednn: Linear layers through oneDNN: None on AVX-512 CPUs only
            (where it was measured faster), True wherever PyTorch's oneDNN
            runs, False never.
        min_onednn_macs: Multiply-adds (tokens x in x out) below which a
            linear layer keeps ``F.linear``: on small products oneDNN's
            per-call cost outweighs its faster kernel.
    """
    chunk_bytes: int = 6 * 2**20
    project_first_pad_channels: int = 16
    project_before_gather: Optional[bool] = None
    max_mask_runs: int = 4
    onednn: Optional[bool] = None
    min_onednn_macs: int = 2**26


#: The settings in force.
config = FastPathConfig()


@contextlib.contextmanager
def configure(**changes) -> Iterator[FastPathConfig]:
    """Change :data:`config` within a ``with`` block (unknown names are an
    error), restoring it after."""
    fields = {f.name for f in dataclasses.fields(FastPathConfig)}
    unknown = set(changes) - fields
    if unknown:
        raise TypeError(f'Unknown fast-path settings {sorted(unknown)}; '
                        f'known: {sorted(fields)}')
    saved = dataclasses.replace(config)
    for name, value in changes.items():
        setattr(config, name, value)
    try:
        yield config
    finally:
        for name in fields:
            setattr(config, name, getattr(saved, name))

"""What one rank holds to train a config's Swin backbone, unsharded or
sharded, with or without activation checkpointing.

A thin entry point: the tool lives in ``swin_mm.analysis.memory_plan``
(``python tools/analysis/memory_plan.py --help``).
"""
import sys

from swin_mm.analysis.memory_plan import main

if __name__ == '__main__':
    sys.exit(main())

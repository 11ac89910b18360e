"""Params and FLOPs of a swin_mm backbone, and W-MSA vs global MSA per stage.

A thin entry point: the tool lives in ``swin_mm.analysis.flops_report``
(``python tools/analysis/get_flops.py --help``).
"""
import sys

from swin_mm.analysis.flops_report import main

if __name__ == '__main__':
    sys.exit(main())

"""Figures of the shifted-window scheme, drawn from the backbone's helpers.

A thin entry point: the tool lives in ``swin_mm.analysis.window_figures``
(``python tools/analysis/visualize_windows.py --help``).
"""
import sys

from swin_mm.analysis.window_figures import main

if __name__ == '__main__':
    main()
    sys.exit(0)

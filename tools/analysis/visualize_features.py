"""A PNG grid of a swin_mm backbone's four feature maps for one image.

A thin entry point: the tool lives in ``swin_mm.analysis.feature_figures``
(``python tools/analysis/visualize_features.py --help``).
"""
import sys

from swin_mm.analysis.feature_figures import main

if __name__ == '__main__':
    main()
    sys.exit(0)

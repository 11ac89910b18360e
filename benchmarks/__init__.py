"""Benchmarks of swin_mm against MMDetection's Swin (not installed with the
package; run from the repository root: ``python -m benchmarks.benchmark``).
"""

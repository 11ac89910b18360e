"""Benchmarks of swin_mm against MMDetection's Swin (not installed with the
package; run from the repository root: ``python -m benchmarks.benchmark``).
"""
import argparse


def parser_from_doc(doc: str) -> argparse.ArgumentParser:
    """An argument parser whose help is a module docstring: its first line
    the description, the rest (usage examples) the epilog, as written."""
    lines = doc.splitlines()
    return argparse.ArgumentParser(
        description=lines[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog='\n'.join(lines[2:]))

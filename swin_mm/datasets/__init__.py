"""Datasets shipped with swin_mm."""
from .toy import CLASSES as TOY_CLASSES
from .toy import ToySpec
from .toy import generate as generate_toy_dataset

__all__ = ['TOY_CLASSES', 'ToySpec', 'generate_toy_dataset']

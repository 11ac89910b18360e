"""int8 post-training quantization of an exported backbone (+ neck) by
NNCF, for OpenVINO's CPU plugin (AMX-INT8 / AVX512-VNNI).

Calibration images come from a config's own dataset, read by its test
pipeline (the images as the deployed model sees them) and its model's data
preprocessor. The training split is the default, so that the images a
model is evaluated on are not the ones it was calibrated on.
"""
import copy
import importlib
from collections import Counter
from typing import Dict, List

import numpy as np
import torch
from mmengine.config import Config
from mmengine.runner import Runner

from .runtimes import require

#: The operations whose int8 use the report counts.
PRODUCTS = ('MatMul', 'Convolution')


def _innermost(dataset: dict) -> dict:
    """The dataset a Repeat / Concat / MultiImageMix wrapper reads."""
    while 'dataset' in dataset or 'datasets' in dataset:
        dataset = dataset.get('dataset') or dataset['datasets'][0]
    return dataset


def calibration_inputs(cfg: Config,
                       model: torch.nn.Module,
                       count: int,
                       split: str = 'train',
                       seed: int = 0) -> List[np.ndarray]:
    """``count`` images of ``split`` ('train' or 'val'), in a seeded random
    order, each through the config's test pipeline and ``model``'s data
    preprocessor: float32 (1, C, H, W) arrays, as the backbone gets them.
    """
    if count < 1:
        raise ValueError(f'count must be >= 1 calibration image, got {count}')
    if split not in ('train', 'val'):
        raise ValueError(f"split must be 'train' or 'val', got {split!r}")
    dataset = copy.deepcopy(_innermost(cfg[f'{split}_dataloader']['dataset']))
    dataset['pipeline'] = copy.deepcopy(cfg.test_dataloader.dataset.pipeline)
    dataset.pop('indices', None)
    loader = Runner.build_dataloader(
        dict(
            dataset=dataset,
            batch_size=1,
            num_workers=0,
            sampler=dict(type='DefaultSampler', shuffle=True, seed=seed),
            collate_fn=cfg[f'{split}_dataloader'].get(
                'collate_fn', dict(type='pseudo_collate'))))
    if len(loader.dataset) < count:
        raise ValueError(f'{count} calibration images asked, but the {split} '
                         f'split holds {len(loader.dataset)}')
    inputs = []
    with torch.no_grad():
        for batch in loader:
            data = model.data_preprocessor(batch, False)
            inputs.append(data['inputs'].float().numpy())
            if len(inputs) == count:
                break
    return inputs


def require_nncf():
    """Import and return NNCF, or say how to install it."""
    try:
        return importlib.import_module('nncf')
    except ImportError as e:
        raise ImportError(
            "int8 quantization needs NNCF: pip install 'swin_mm[deploy]' "
            f'(with -c requirements/constraints.txt). ({e})') from e


def quantize(file: str,
             inputs: List[np.ndarray],
             fast_bias_correction: bool = True):
    """NNCF's post-training int8 quantization of an ONNX / OpenVINO IR file
    with its transformer settings (SmoothQuant on the linear layers'
    inputs; LayerNorm, Softmax and other element-wise work kept in the
    float precision). Returns the quantized ``openvino.Model``, which keeps
    the file's dynamic batch, height and width."""
    openvino = require('openvino')
    nncf = require_nncf()
    model = openvino.Core().read_model(file)
    return nncf.quantize(
        model,
        nncf.Dataset(inputs),
        model_type=nncf.ModelType.TRANSFORMER,
        subset_size=len(inputs),
        fast_bias_correction=fast_bias_correction)


#: Operations a weight passes through on its way to a product (NNCF's
#: int8 weights: Constant -> Convert -> Subtract -> Multiply).
WEIGHT_PATH = ('Constant', 'Convert', 'Subtract', 'Multiply', 'FakeQuantize',
               'Reshape', 'Transpose', 'Unsqueeze')


def _is_weight(node, depth: int = 6) -> bool:
    """Whether ``node`` computes from constants only (a weight)."""
    kind = node.get_type_name()
    if kind == 'Constant':
        return True
    if kind not in WEIGHT_PATH or depth == 0:
        return False
    return all(
        _is_weight(node.input_value(i).get_node(), depth - 1)
        for i in range(node.get_input_size()))


def product_kind(op) -> str:
    """'convolutions', 'linear layers' (a product with a weight) or
    'attention products' (q @ k^T, softmax @ v: two activations)."""
    if op.get_type_name() == 'Convolution':
        return 'convolutions'
    weight = _is_weight(op.input_value(1).get_node())
    return 'linear layers' if weight else 'attention products'


def precision_report(model) -> Dict[str, Dict[str, int]]:
    """How many matrix products (MatMul, Convolution) of a quantized
    ``openvino.Model`` take an int8 activation ('int8') and how many stay
    in the float precision ('float'), by kind (:func:`product_kind`)."""
    report = {'int8': Counter(), 'float': Counter()}
    for op in model.get_ops():
        if op.get_type_name() in PRODUCTS:
            source = op.input_value(0).get_node().get_type_name()
            report['int8' if source == 'FakeQuantize' else 'float'][
                product_kind(op)] += 1
    return {k: dict(sorted(v.items())) for k, v in report.items()}

"""State-dict layouts of public Swin implementations.

swin_mm's backbones hold OpenMMLab's parameter trees: V1 MMDetection's /
MMSegmentation's ``SwinTransformer`` (layout ``'openmmlab'``), V2
MMPretrain's ``SwinTransformerV2`` (``'openmmlab_v2'``). Every other layout
is read through one intermediate layout, the paper's (swin_mm's earlier
keys, ``'swin_mm_v0'``), and written from it into the model's tree::

    patch_embed.{proj,norm}.*
    absolute_pos_embed                          (1, C, h, w)
    stages.{i}.downsample.{norm,reduction}.*    patch merging INTO stage i
    stages.{i}.blocks.{j}.{norm1,norm2}.*
    stages.{i}.blocks.{j}.attn.{qkv,proj}.*
    stages.{i}.blocks.{j}.attn.relative_position_bias_table  (V1)
    stages.{i}.blocks.{j}.attn.{logit_scale,q_bias,v_bias,cpb_mlp.*}  (V2)
    stages.{i}.blocks.{j}.mlp.{fc1,fc2}.*
    norm{i}.*                                   output norms

with patch merging's 4C channels in the official concat order (x0, x1, x2,
x3) = (top-left, bottom-left, top-right, bottom-right); OpenMMLab's trees
hold them in ``nn.Unfold``'s order. Derived buffers
(``relative_position_index``, ``relative_coords_table``, ``attn_mask``) are
never read: the model rebuilds them from its window sizes.
"""
import re
from collections import OrderedDict
from typing import Dict, Mapping

import torch

StateDict = Dict[str, torch.Tensor]

# OpenMMLab's PatchMerging uses nn.Unfold: channel c of neighbour k sits at
# c * 4 + k, with k in the order (x0, x2, x1, x3). Official order puts it at
# k * C + c with k in (x0, x1, x2, x3).
_UNFOLD_ORDER = [0, 2, 1, 3]


def merging_from_unfold_order(t: torch.Tensor) -> torch.Tensor:
    """Reorder a patch-merging tensor's 4C axis (last for the reduction's
    weight, only for the norm's) from nn.Unfold's order to the official."""
    *lead, four_c = t.shape
    t = t.reshape(*lead, four_c // 4, 4)  # ..., C, 4 (unfold k)
    t = t[..., _UNFOLD_ORDER]  # ..., C, 4 (official k)
    return t.transpose(-1, -2).reshape(*lead, four_c)  # ..., 4 * C


def merging_to_unfold_order(t: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`merging_from_unfold_order`."""
    *lead, four_c = t.shape
    t = t.reshape(*lead, 4, four_c // 4)  # ..., 4 (official k), C
    t = t[..., _UNFOLD_ORDER, :]  # ..., 4 (unfold k), C
    return t.transpose(-1, -2).reshape(*lead, four_c)  # ..., C * 4


# MMDetection / MMSegmentation (V1), MMPretrain (V2) -----------------------
# (paper layout, OpenMMLab) key substrings: replace the right by the left to
# read their keys, the left by the right to write them.
_OPENMMLAB_NAMES = [
    ('patch_embed.proj.', 'patch_embed.projection.'),
    ('.attn.', '.attn.w_msa.'),
    ('.mlp.fc1.', '.ffn.layers.0.0.'),
    ('.mlp.fc2.', '.ffn.layers.1.'),
]
_DERIVED = ('relative_position_index', 'attn_mask', 'relative_coords_table')


def _shift_downsample_stage(key: str, offset: int) -> str:
    """stages.{i}.downsample -> stages.{i + offset}.downsample."""
    return re.sub(r'^stages\.(\d+)\.downsample\.',
                  lambda m: f'stages.{int(m.group(1)) + offset}.downsample.',
                  key)


def _from_tree(state_dict: Mapping[str, torch.Tensor], stage_offset: int,
               norm_4c: bool) -> StateDict:
    out = OrderedDict()
    for key, value in state_dict.items():
        if key.endswith(_DERIVED):
            continue
        for ours, theirs in _OPENMMLAB_NAMES:
            key = key.replace(theirs, ours)
        if '.downsample.' in key:
            key = _shift_downsample_stage(key, stage_offset)
            if key.endswith('reduction.weight') or norm_4c:
                value = merging_from_unfold_order(value)
        elif key == 'absolute_pos_embed' and value.dim() == 3:
            value = tokens_to_grid(value)
        out[key] = value
    return out


def _to_tree(state_dict: Mapping[str, torch.Tensor], stage_offset: int,
             norm_4c: bool) -> StateDict:
    # Imported here: the models import this package.
    from swin_mm.models.layers.windows import relative_position_index
    out = OrderedDict()
    for key, value in state_dict.items():
        for ours, theirs in _OPENMMLAB_NAMES:
            key = key.replace(ours, theirs)
        if '.downsample.' in key:
            key = _shift_downsample_stage(key, stage_offset)
            if key.endswith('reduction.weight') or norm_4c:
                value = merging_to_unfold_order(value)
        elif key == 'absolute_pos_embed' and value.dim() == 4:
            value = value.flatten(2).transpose(1, 2)  # 1, h*w, C
        out[key] = value
        if key.endswith('w_msa.relative_position_bias_table'):
            # The toolkit's model holds the index as a persistent buffer.
            side = int(round(value.shape[0]**0.5))
            out[key.replace('relative_position_bias_table',
                            'relative_position_index')] = \
                relative_position_index((side + 1) // 2)
    return out


def from_openmmlab(state_dict: Mapping[str, torch.Tensor]) -> StateDict:
    """MMDetection / MMSegmentation ``SwinTransformer`` keys (swin_mm's V1
    tree) -> the paper layout: their downsample ends stage i (the paper's
    starts stage i + 1) and its 4C channels follow nn.Unfold's order."""
    return _from_tree(state_dict, +1, norm_4c=True)


def to_openmmlab(state_dict: Mapping[str, torch.Tensor]) -> StateDict:
    """Any supported V1 layout -> MMDetection / MMSegmentation keys (with
    their ``relative_position_index`` buffers)."""
    return TREES['openmmlab'](to_paper_layout(state_dict))


def from_openmmlab_v2(state_dict: Mapping[str, torch.Tensor]) -> StateDict:
    """MMPretrain ``SwinTransformerV2`` keys (swin_mm's V2 tree) -> the
    paper layout: downsample already starts stage i; the reduction's 4C
    input follows nn.Unfold's order (V2's norm is on the 2C output)."""
    return _from_tree(state_dict, 0, norm_4c=False)


def not_backbone_weight(key: str) -> bool:
    """Keys a converter leaves out: buffers derived from the window size
    (rebuilt by the model) and a classifier's head and final norm."""
    return key.endswith(_DERIVED) or key.startswith(('head.', 'norm.'))


# Official Microsoft classifier (and its detection/segmentation backbones) ---
# layers.{i}.downsample ends stage i there and starts stage i + 1 here.
def from_official(state_dict: Mapping[str, torch.Tensor]) -> StateDict:
    """Official Swin-Transformer keys -> swin_mm keys.

    ``layers.*`` become ``stages.*`` (downsample moves to the next stage);
    derived buffers (relative_position_index, attn_mask) are dropped; the
    classifier's final ``norm`` and ``head`` are not part of the backbone
    and are left out (the detection code starts ``norm3`` fresh too).
    """
    out = OrderedDict()
    for key, value in state_dict.items():
        if not_backbone_weight(key):
            continue
        if key.startswith('layers.'):
            key = 'stages.' + key[len('layers.'):]
            if '.downsample.' in key:
                key = _shift_downsample_stage(key, +1)
        elif key == 'absolute_pos_embed' and value.dim() == 3:
            value = tokens_to_grid(value)
        out[key] = value
    return out


def to_official(state_dict: Mapping[str, torch.Tensor]) -> StateDict:
    """Any supported layout -> the official detection backbone's keys.

    ``stages.*`` become ``layers.*`` (downsample back to the end of the
    previous stage); output norms keep their names ``norm0..3``, as in the
    official detection and segmentation backbones.
    """
    out = OrderedDict()
    for key, value in to_paper_layout(state_dict).items():
        if key.startswith('stages.'):
            if '.downsample.' in key:
                key = _shift_downsample_stage(key, -1)
            key = 'layers.' + key[len('stages.'):]
        out[key] = value
    return out


def tokens_to_grid(pos_embed: torch.Tensor) -> torch.Tensor:
    """(1, L, C) position embedding of a square grid -> (1, C, h, w)."""
    _, L, C = pos_embed.shape
    side = int(round(L**0.5))
    if side * side != L:
        raise ValueError(
            f'absolute_pos_embed has {L} tokens, not a square grid; cannot '
            'recover its height and width')
    return pos_embed.transpose(1, 2).reshape(1, C, side, side)  # 1, C, h, w


# timm ------------------------------------------------------------------------
# Downsample starts stage i in timm, as here; blocks are named as officially.
def from_timm(state_dict: Mapping[str, torch.Tensor]) -> StateDict:
    """timm ``swin_*`` keys -> swin_mm keys (head and final norm left out)."""
    out = OrderedDict()
    for key, value in state_dict.items():
        if not_backbone_weight(key):
            continue
        if key.startswith('layers.'):
            key = 'stages.' + key[len('layers.'):]
        elif key == 'absolute_pos_embed' and value.dim() == 4:
            value = value.permute(0, 3, 1, 2)  # 1, h, w, C -> 1, C, h, w
        elif key == 'absolute_pos_embed' and value.dim() == 3:
            value = tokens_to_grid(value)
        out[key] = value
    return out


# torchvision -----------------------------------------------------------------
# features.0 = patch embedding (conv, permute, norm); features.{2i+1} = the
# blocks of stage i; features.{2i} (i >= 1) = patch merging into stage i.
_TORCHVISION_BLOCK_NAMES = [('.mlp.0.', '.mlp.fc1.'), ('.mlp.3.', '.mlp.fc2.')]


def from_torchvision(state_dict: Mapping[str, torch.Tensor]) -> StateDict:
    """torchvision ``swin_t/s/b`` keys -> swin_mm keys."""
    out = OrderedDict()
    for key, value in state_dict.items():
        if not_backbone_weight(key):
            continue
        match = re.match(r'^features\.(\d+)\.(.*)$', key)
        if match is None:
            out[key] = value
            continue
        index, rest = int(match.group(1)), match.group(2)
        if index == 0:
            key = {
                '0.weight': 'patch_embed.proj.weight',
                '0.bias': 'patch_embed.proj.bias',
                '2.weight': 'patch_embed.norm.weight',
                '2.bias': 'patch_embed.norm.bias'
            }.get(rest, key)
        elif index % 2 == 1:
            key = f'stages.{index // 2}.blocks.{rest}'
            for theirs, ours in _TORCHVISION_BLOCK_NAMES:
                key = key.replace(theirs, ours)
        else:
            key = f'stages.{index // 2}.downsample.{rest}'
        out[key] = value
    return out


# Detection -------------------------------------------------------------------
#: Readers of each layout into the paper layout.
LAYOUTS = {
    'openmmlab':
    from_openmmlab,
    'openmmlab_v2':
    from_openmmlab_v2,
    'swin_mm_v0':
    lambda sd: OrderedDict(
        (k, v) for k, v in sd.items() if not k.endswith(_DERIVED)),
    'official':
    from_official,
    'timm':
    from_timm,
    'torchvision':
    from_torchvision,
}

#: Writers of the paper layout into swin_mm's trees (V1, V2).
TREES = {
    'openmmlab': lambda sd: _to_tree(sd, -1, norm_4c=True),
    'openmmlab_v2': lambda sd: _to_tree(sd, 0, norm_4c=False),
}


def detect_layout(state_dict: Mapping[str, torch.Tensor]) -> str:
    """Name the layout of a (prefix-stripped) backbone state dict.

    Returns one of :data:`LAYOUTS`' keys, or ``'unknown'``.
    """
    keys = list(state_dict)

    def has(pattern: str) -> bool:
        return any(re.search(pattern, k) for k in keys)

    if has(r'^features\.\d+\.\d+\.attn\.qkv\.'):
        return 'torchvision'
    if has(r'\.attn\.w_msa\.') or has(r'^patch_embed\.projection\.'):
        if has(r'\.w_msa\.(logit_scale|cpb_mlp)'):
            return 'openmmlab_v2'
        return 'openmmlab'
    if has(r'^stages\.\d+\.blocks\.\d+\.attn\.qkv\.'):
        return 'swin_mm_v0'
    if has(r'^layers\.\d+\.blocks\.\d+\.attn\.qkv\.'):
        # Official: downsample ends stages 0..n-2; timm: starts stages 1..n-1.
        if has(r'^layers\.0\.downsample\.'):
            return 'official'
        if has(r'^layers\.\d+\.downsample\.') or has(r'^head\.fc\.'):
            return 'timm'
        return 'official'
    return 'unknown'


def is_v2(state_dict: Mapping[str, torch.Tensor]) -> bool:
    """Whether the weights are Swin V2's (cosine attention)."""
    return any(
        k.endswith(('logit_scale', 'cpb_mlp.0.weight')) for k in state_dict)


def to_paper_layout(state_dict: Mapping[str, torch.Tensor]) -> StateDict:
    """A backbone state dict of any supported layout -> the paper layout."""
    layout = detect_layout(state_dict)
    if layout == 'unknown':
        raise ValueError('Not a Swin Transformer state dict of a known '
                         f'layout; first keys: {list(state_dict)[:5]}')
    return LAYOUTS[layout](state_dict)


def to_tree(state_dict: Mapping[str, torch.Tensor], layout: str,
            tree: str) -> StateDict:
    """Convert a backbone state dict of ``layout`` to swin_mm's ``tree``
    ('openmmlab' for V1, 'openmmlab_v2' for V2)."""
    if layout not in LAYOUTS:
        raise ValueError(f'Unknown checkpoint layout {layout!r}; known: '
                         f'{sorted(LAYOUTS)}')
    if tree not in TREES:
        raise ValueError(f'Unknown parameter tree {tree!r}; known: '
                         f'{sorted(TREES)}')
    if layout == tree:
        return OrderedDict(state_dict)
    return TREES[tree](LAYOUTS[layout](state_dict))

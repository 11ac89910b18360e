"""The fast path computes what the reference path computes.

Reference: pad, cyclic shift, partition, explicit softmax attention, reverse,
shift back, crop (``fast_path=False``), in plain PyTorch (``F.linear``, no
oneDNN). Fast path: one precomputed row gather, PyTorch's fused attention
per run of windows sharing a mask, chunked CPU inference, oneDNN linear
layers where they apply. Both are checked on W-MSA and SW-MSA blocks, padded
and unpadded maps, train and eval, with and without with_cp.
"""
import pytest
import torch

from swin_mm.models import SwinTransformer, fast_path
from swin_mm.models.fast_path.attention import (needs_explicit_attention,
                                                pad_rows)
from swin_mm.models.fast_path.block import chunk_tokens, project_before_gather
from swin_mm.models.fast_path.plan import (cached_image_plan, image_plan,
                                           window_plan)
from swin_mm.models.layers import (cyclic_shift, pad_to_window, padded_size,
                                   shift_window_mask, window_partition)
from ...helpers import SMALL
from ..test_swin_transformer_v2 import small_v2

# (H, W) inputs: stage maps unpadded (56x56 -> 14x14 at window 7) and
# padded at every stage; both shift along both dimensions.
SIZES = [(224, 224), (150, 203)]


def _pair(**kwargs):
    """A reference-path model and a fast-path model with the same weights."""
    torch.manual_seed(0)
    ref = SwinTransformer(**{**SMALL, **kwargs}, fast_path=False)
    with torch.no_grad():
        for param in ref.parameters():
            param.add_(0.1 * torch.randn_like(param))
    fast = SwinTransformer(**{**SMALL, **kwargs}, fast_path=True)
    fast.load_state_dict(ref.state_dict())
    return ref, fast


def _outputs_and_grads(model, x, train):
    """Outputs (and gradients); a reference-path model runs plain PyTorch
    (``F.linear`` throughout), so the two paths share no fast code."""
    model.train(train)
    x = x.clone().requires_grad_(train)
    plain = not model.fast_path
    with torch.set_grad_enabled(train), \
            fast_path.configure(onednn=False if plain else None):
        outs = model(x)
        if not train:
            return [o for o in outs], {}
        sum((o * o).mean() for o in outs).backward()
    grads = {
        n: p.grad.clone()
        for n, p in model.named_parameters() if p.grad is not None
    }
    grads['input'] = x.grad
    return [o.detach() for o in outs], grads


def _assert_close(ref, fast, tol=1e-5):
    for a, b in zip(ref, fast):
        assert a.shape == b.shape
        assert (a - b).abs().max().item() <= tol


def _assert_grads_close(ref_grads, fast_grads, tol=1e-5):
    """Same parameters with gradients, each within tol of its largest."""
    assert ref_grads.keys() == fast_grads.keys()
    for name in ref_grads:
        scale = ref_grads[name].abs().max().item() + 1e-12
        diff = (ref_grads[name] - fast_grads[name]).abs().max().item()
        assert diff / scale <= tol, name


@pytest.mark.parametrize('size', SIZES)
@pytest.mark.parametrize('train', [False, True])
@pytest.mark.parametrize('with_cp', [False, True])
def test_fast_path_equals_reference(size, train, with_cp):
    ref, fast = _pair(with_cp=with_cp)
    x = torch.randn(2, 3, *size)
    ref_outs, ref_grads = _outputs_and_grads(ref, x, train)
    fast_outs, fast_grads = _outputs_and_grads(fast, x, train)
    _assert_close(ref_outs, fast_outs)
    _assert_grads_close(ref_grads, fast_grads)


def test_fused_kernel_path_with_autograd_equals_reference():
    # Frozen attention bias with autograd on: the fast path runs SDPA with a
    # gradient for q, k, v (not the explicit product), e.g. when stages
    # are frozen below trainable ones.
    ref, fast = _pair()
    for model in (ref, fast):
        for name, param in model.named_parameters():
            if 'relative_position_bias_table' in name:
                param.requires_grad_(False)
    block = fast.stages[0].blocks[1]
    assert not needs_explicit_attention(block.attn.w_msa, torch.device('cpu'))
    x = torch.randn(2, 3, 150, 203)
    ref_outs, ref_grads = _outputs_and_grads(ref, x, train=True)
    fast_outs, fast_grads = _outputs_and_grads(fast, x, train=True)
    _assert_close(ref_outs, fast_outs)
    _assert_grads_close(ref_grads, fast_grads)


@pytest.mark.parametrize('project_first', [True, False])
def test_qkv_projection_before_or_after_window_gather_equals_reference(
        project_first):
    # The qkv projection commutes with the window gather, padding slots
    # reading qkv(0): both orders give the reference outputs and gradients.
    ref, fast = _pair()
    x = torch.randn(2, 3, 150, 203)  # every stage padded
    ref_outs, ref_grads = _outputs_and_grads(ref, x, train=True)
    with fast_path.configure(project_before_gather=project_first):
        plan = window_plan(1, (38, 51), 7, (3, 3))
        assert project_before_gather(plan, 38 * 51, 16) is \
            project_first
        fast_outs, fast_grads = _outputs_and_grads(fast, x, train=True)
    _assert_close(ref_outs, fast_outs)
    _assert_grads_close(ref_grads, fast_grads)


def test_qkv_projection_goes_first_only_where_padding_outweighs_copying():
    # 256x256 input at window 7, as in the toy configs: stage maps 64, 32,
    # 16, 8 padded to 70, 35, 21, 14 (padding 16 %, 16 %, 42 %, 67 % of the
    # slots); C = 48, 96, 192, 384.
    choices = []
    for hw, C in [(64, 48), (32, 96), (16, 192), (8, 384), (56, 384)]:
        plan = window_plan(1, (hw, hw), 7, (3, 3))
        choices.append(project_before_gather(plan, hw * hw, C))
    assert choices == [False, False, True, True, False]


def test_chunked_inference_splits_runs_and_still_matches():
    # A budget of one window per chunk: every run is cut into many chunks.
    ref, fast = _pair()
    block = fast.stages[0].blocks[1]
    x = torch.randn(2, 3, 150, 203)
    with fast_path.configure(chunk_bytes=1):
        assert chunk_tokens(block) == block.attn.window_size**2
        fast_outs = _outputs_and_grads(fast, x, False)[0]
    _assert_close(_outputs_and_grads(ref, x, False)[0], fast_outs)


def test_fast_path_settings_are_checked_and_restored():
    with fast_path.configure(max_mask_runs=1) as config:
        assert config.max_mask_runs == 1
    assert fast_path.config.max_mask_runs == 4
    with pytest.raises(TypeError, match='Unknown fast-path settings'):
        with fast_path.configure(chunk_size=1):
            pass


def test_always_shift_fast_path_equals_reference_where_map_fits_window():
    # 64x64 input: the last stage is 2x2 < window 7, padded to one window
    # and (always_shift) cut by the shift mask anyway.
    ref, fast = _pair(always_shift=True)
    x = torch.randn(2, 3, 64, 64)
    _assert_close(
        _outputs_and_grads(ref, x, False)[0],
        _outputs_and_grads(fast, x, False)[0])


@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
@pytest.mark.parametrize('train', [False, True])
def test_half_precision_autocast_fast_path_close_to_reference(train, dtype):
    # The bias + shift mask is cast to the query's dtype for the fused
    # kernel: -100 and the bias must stay finite there (float16 tops out at
    # 65504), and the softmax of masked logits give no NaN.
    ref, fast = _pair()
    x = torch.randn(2, 3, 150, 203)
    results = []
    for model in (ref, fast):
        with torch.autocast('cpu', dtype=dtype):
            results.append(_outputs_and_grads(model, x, train))
    (ref_outs, ref_grads), (fast_outs, fast_grads) = results
    for a, b in zip(ref_outs, fast_outs):
        assert torch.isfinite(b).all()
        torch.testing.assert_close(b.float(), a.float(), rtol=0.05, atol=0.05)
    # Gradients: the same up to half precision's rounding, parameter by
    # parameter (relative to each gradient's norm).
    assert set(fast_grads) == set(ref_grads)
    for name, ref_grad in ref_grads.items():
        fast_grad = fast_grads[name].float()
        assert torch.isfinite(fast_grad).all(), name
        error = (fast_grad - ref_grad.float()).norm()
        assert error <= 0.05 * ref_grad.float().norm() + 1e-6, (name, error)


@pytest.mark.parametrize(
    'B,hw,M,shift',
    [
        (2, (14, 14), 7, (3, 3)),  # unpadded SW-MSA
        (2, (13, 17), 7, (3, 3)),  # padded SW-MSA
        (1, (5, 7), 7, (3, 3)),  # one padded window, shifted anyway
        (3, (9, 9), 4, (0, 0)),  # padded W-MSA
        (2, (8, 8), 4, (2, 0)),  # shift along rows only
        (1, (9, 30), 7, (0, 3)),  # shift along columns only, padded
        (2, (38, 51), 7, (3, 3)),  # many windows, padded
        (1, (3, 2), 7, (3, 3)),  # a map far smaller than the window
    ])
def test_window_plan_is_pad_shift_partition_reordered(B, hw, M, shift):
    """Token ids through the plan and through the reference steps give the
    same windows (up to each image's window order), each with its mask."""
    H, W = hw
    plan = window_plan(B, hw, M, shift)
    ids = torch.arange(1, B * H * W + 1).view(B, H, W, 1)  # 0 = padding
    ref = window_partition(
        cyclic_shift(pad_to_window(ids, M), (-shift[0], -shift[1])), M)[..., 0]
    source = ids.flatten()
    source = torch.cat([torch.zeros(1, dtype=torch.long), source]) \
        if plan.zero_row else source
    windows = source[plan.gather_index].view(-1, M * M)
    assert windows.shape == ref.shape
    Hp, Wp = padded_size(H, M), padded_size(W, M)
    masks = shift_window_mask((Hp, Wp), M, shift)
    nW = masks.shape[0]
    ref_index = {tuple(w.tolist()): i for i, w in enumerate(ref)}
    for i, window in enumerate(windows):
        j = ref_index[tuple(window.tolist())]
        assert j // nW == i // nW, 'a window left its image'
        if plan.window_masks is not None:
            assert torch.equal(plan.window_masks[i % nW], masks[j % nW])
        else:
            assert not masks.any()
    # Scatter puts every token back where it came from.
    assert torch.equal(windows.flatten()[plan.scatter_index], ids.flatten())


def test_window_plan_runs_cover_windows_with_their_masks():
    B, hw, M, shift = 2, (13, 17), 7, (3, 3)
    plan = window_plan(B, hw, M, shift)
    nW = plan.window_masks.shape[0]
    covered = 0
    for first, count, group in plan.runs:
        assert first == covered
        for w in range(first, first + count):
            assert torch.equal(plan.window_masks[w % nW],
                               plan.group_masks[group])
        covered += count
    assert covered == B * nW
    # Consecutive runs differ in mask (runs are maximal).
    groups = [g for _, _, g in plan.runs]
    assert all(a != b for a, b in zip(groups, groups[1:]))
    # Runs clipped to a window range cover exactly that range.
    clipped = plan.runs_within(3, 11)
    assert sum(count for _, count, _ in clipped) == 8
    assert clipped[0][0] == 0


@pytest.mark.parametrize('hw,shift', [((13, 17), (3, 3)), ((5, 30), (0, 3)),
                                      ((14, 14), (3, 3)), ((9, 9), (0, 0))])
def test_traced_window_plan_is_pad_shift_partition_in_row_major_order(
        hw, shift):
    """With the shift as 0-d tensors (what tracing with symbolic sizes
    gives), the plan is the reference's windows in the reference's order,
    each with its paper mask, and a zero row always."""
    H, W = hw
    M = 7
    plan = image_plan(hw, M, 3, tuple(torch.tensor(s) for s in shift),
                      torch.device('cpu'))
    assert plan.group_counts is None and plan.zero_row
    ids = torch.arange(1, H * W + 1).view(1, H, W, 1)  # 0 = padding
    ref = window_partition(
        cyclic_shift(pad_to_window(ids, M), (-shift[0], -shift[1])), M)[..., 0]
    assert torch.equal(plan.gather_index.view(-1, M * M), ref)
    Hp, Wp = padded_size(H, M), padded_size(W, M)
    assert torch.equal(plan.window_masks, shift_window_mask((Hp, Wp), M,
                                                            shift))
    source = torch.cat([torch.zeros(1, dtype=torch.long), ids.flatten()])
    assert torch.equal(source[plan.gather_index][plan.scatter_index],
                       ids.flatten())


def test_window_plan_cache_is_keyed_without_batch_and_bounded():
    device = torch.device('cpu')
    plan = cached_image_plan((13, 17), 7, 3, (3, 3), device)
    assert cached_image_plan((13, 17), 7, 3, (3, 3), device) is plan
    info = cached_image_plan.cache_info
    size = info().currsize
    for batch in (1, 2, 5):
        window_plan(batch, (13, 17), 7, (3, 3))
    assert info().currsize == size
    for h in range(1, info().maxsize + 10):
        cached_image_plan((h, 9), 7, 3, (3, 3), device)
    assert info().currsize == info().maxsize


def test_cuda_mask_rows_padded_to_multiple_of_8():
    mask = torch.randn(1, 3, 49, 49)
    padded = pad_rows(mask, 8)
    assert padded.shape == mask.shape and torch.equal(padded, mask)
    assert padded.stride(-2) == 56 and padded.stride(-1) == 1
    already = torch.randn(1, 2, 64, 64)
    assert pad_rows(already, 8) is already


@pytest.mark.parametrize('version', ['v1', 'v2'])
def test_relative_position_bias_is_contiguous_and_gathered_by_index(version):
    # Contiguous, so that the logits it is added to are too (a permuted
    # bias gives the sum its layout, and softmax then copies the logits).
    from swin_mm.models.backbones.swin_transformer import WindowMSA
    from swin_mm.models.backbones.swin_transformer_v2 import WindowCosineMSA
    torch.manual_seed(0)
    if version == 'v1':
        attn = WindowMSA(16, 2, 4)
        attn.relative_position_bias_table.data.normal_()
        table = attn.relative_position_bias_table
    else:
        attn = WindowCosineMSA(16, 2, 4, cpb_hidden=8)
        table = 16 * torch.sigmoid(
            attn.cpb_mlp(attn.relative_coords_table.view(-1, 2)))
    bias = attn.relative_position_bias()
    assert bias.shape == (2, 16, 16)
    assert bias.is_contiguous()
    index = attn.relative_position_index.view(16, 16)
    for head in range(2):
        expected = table[:, head][index]  # N, N
        assert (bias[head] - expected).abs().max() <= 1e-6


@pytest.mark.parametrize('train', [False, True])
@pytest.mark.parametrize('size', [(128, 128), (97, 131), (40, 40)])
def test_v2_fast_path_equals_reference(train, size):
    ref = small_v2(window_size=8, fast_path=False)
    fast = small_v2(window_size=8, fast_path=True)
    x = torch.randn(2, 3, *size)
    outs = []
    for model in (ref, fast):
        with torch.set_grad_enabled(train):
            outs.append(model.train(train)(x))
    for a, b in zip(*outs):
        assert (a - b).abs().max().item() <= 1e-5


@pytest.mark.parametrize('project_first', [True, False])
def test_v2_qkv_projection_before_or_after_gather_equals_reference(
        project_first):
    # V2's qkv (zero k bias) projected before or after the window gather on
    # padded maps. Outputs and gradients.
    ref = small_v2(window_size=8, fast_path=False)
    fast = small_v2(window_size=8, fast_path=True)
    x = torch.randn(2, 3, 97, 131)  # every stage padded
    outs, grads = [], []
    for model in (ref, fast):
        with fast_path.configure(project_before_gather=project_first):
            out = model.train()(x)
        sum(o.square().mean() for o in out).backward()
        outs.append(out)
        grads.append([p.grad for p in model.parameters()])
    for a, b in zip(*outs):
        assert (a - b).abs().max().item() <= 1e-5
    for a, b in zip(*grads):
        assert (a - b).abs().max().item() <= 1e-5 * (a.abs().max() + 1e-12)

"""swin_mm.SwinTransformer builds from MMDetection and MMSegmentation."""
import pytest
from mmengine.registry import DefaultScope

from swin_mm.models import SwinTransformer

CFG = dict(
    type='swin_mm.SwinTransformer',
    embed_dims=16,
    depths=(2, 2),
    num_heads=(1, 2),
    out_indices=(0, 1))


@pytest.mark.parametrize('toolkit', ['mmdet', 'mmseg'])
def test_build_through_toolkit_registry_in_its_default_scope(toolkit):
    if toolkit == 'mmdet':
        from mmdet.models.backbones import SwinTransformer as Theirs
        from mmdet.registry import MODELS
    else:
        from mmseg.models.backbones import SwinTransformer as Theirs
        from mmseg.registry import MODELS
    scope = f'test-{toolkit}'
    with DefaultScope.overwrite_default_scope(toolkit):
        DefaultScope.get_instance(scope, scope_name=toolkit)
        model = MODELS.build(dict(CFG))
        # The toolkit's own name still means its own Swin: no clash.
        assert MODELS.get('SwinTransformer') is Theirs
    assert type(model) is SwinTransformer
    assert model.depths == (2, 2)


def test_unknown_swin_mm_type_fails_clearly():
    from mmdet.registry import MODELS
    with pytest.raises((KeyError, RuntimeError), match='NoSuchSwin'):
        MODELS.build(dict(type='swin_mm.NoSuchSwin'))


@pytest.mark.slow
def test_fresh_process_builds_from_mmdet_scope_without_custom_imports():
    """A config with only type='swin_mm.SwinTransformer' works: mmengine
    imports swin_mm.registry for the scope, which imports the models."""
    import subprocess
    import sys
    code = ('from mmengine.registry import init_default_scope\n'
            "init_default_scope('mmseg')\n"
            'from mmseg.registry import MODELS\n'
            "m = MODELS.build(dict(type='swin_mm.SwinTransformer', "
            'embed_dims=16, num_heads=(1, 2, 4, 8)))\n'
            'print(type(m).__module__, type(m).__name__)\n')
    out = subprocess.run([sys.executable, '-c', code],
                         capture_output=True,
                         text=True,
                         check=True)
    assert out.stdout.split() == [
        'swin_mm.models.backbones.swin_transformer', 'SwinTransformer'
    ]

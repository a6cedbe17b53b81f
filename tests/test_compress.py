"Compression after fine-tuning on real weights (offline): int8 quantization of the transformer and the CNN, global magnitude pruning."
import copy, os
for k in ('FTLEARN_OFFLINE', 'HF_HUB_OFFLINE', 'TRANSFORMERS_OFFLINE'): os.environ.setdefault(k, '1')
import numpy as np, pytest, torch
from torch import nn
from ftlearn.data.datasets import load_data
from ftlearn.tasks.core import make_task
from ftlearn.strategies.peft import saved_bytes
from ftlearn.studies.compress import *

@pytest.fixture(scope='module')
def txt():
    return make_task(load_data('rotten_tomatoes', n_per_class=8, n_valid=8, n_test=16), 'all-MiniLM-L6-v2', max_len=24, bs=8)

@pytest.fixture(scope='module')
def img():
    return make_task(load_data('fashion_mnist', n_per_class=4, n_valid=10, n_test=20), 'efficientnet_lite0', size=32, bs=10)

def test_dynamic_int8_text_smaller_and_close(txt):
    m = txt.model().eval(); q = quantize_dynamic_int8(m)
    assert not any(type(x) is nn.Linear for x in q.modules())          # every linear layer replaced
    lin = 4 * sum(x.weight.numel() for x in m.modules() if type(x) is nn.Linear)   # fp32 bytes of the linear weights
    assert saved_bytes(m) - saved_bytes(q) > 0.7 * lin                  # their 4 bytes became ~1; embeddings stay float
    p, _ = predict(m, txt.test_dl()); pq, _ = predict(q, txt.test_dl())
    assert np.abs(p - pq).max() < 0.1
    assert next(m.parameters()).dtype == torch.float32                  # the original is untouched

def test_static_int8_cnn(img):
    m = img.model().eval()
    x = next(iter(img.test_dl()))[0]
    with torch.no_grad(): torch.testing.assert_close(fx_ready(copy.deepcopy(m), x[:1])(x), m(x), rtol=1e-5, atol=1e-5)
    q = quantize_static_int8(m, [b for b, _ in img.dls().train])
    assert saved_bytes(q) < saved_bytes(m) / 3
    assert any('quantized' in type(x).__module__ for x in q.modules())
    assert predict(q, img.test_dl())[0].shape == (20, 10)
    with pytest.raises(ValueError, match='backend'): quantize_static_int8(m, [x], backend='tpu')

@pytest.mark.parametrize('s', [0.3, 0.6, 0.9])
def test_global_pruning_hits_sparsity(img, s):
    m = img.model()
    p = prune_global(m, s)
    assert abs(sparsity(p) - s) < 1e-3 and sparsity(m) < 0.01
    assert not any(n.endswith('_orig') for n, _ in p.named_parameters())   # made permanent
    assert saved_bytes(p) == saved_bytes(m)                                # dense storage

def test_pruning_is_global_not_per_layer(img):
    p = prune_global(img.model(), 0.5)
    per_layer = [float((mod.weight == 0).float().mean()) for mod in p.modules() if isinstance(mod, (nn.Conv2d, nn.Linear))]
    assert max(per_layer) - min(per_layer) > 0.2                       # layers lose different fractions

def test_measure_and_bad_input(img):
    m = img.model().eval(); x = next(iter(img.test_dl()))[0]
    r = measure(m, img.test_dl(), x, repeats=1)
    assert set(r) == {'accuracy', 'size_mb', 'zipped_mb', 'latency_ms', 'zero_weights'} and 0 <= r['accuracy'] <= 1
    assert r['zipped_mb'] < r['size_mb']
    for bad in (-0.1, 1, 'half'):
        with pytest.raises(ValueError, match='sparsity must be'): prune_global(m, bad)
    with pytest.raises(ValueError, match='calibration'): quantize_static_int8(m, [])

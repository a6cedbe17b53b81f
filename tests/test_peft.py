"Parameter-efficient strategies on real weights (offline): what trains, what stays frozen under fastai, merging, the harness and the CLI."
import copy, os
for k in ('FTLEARN_OFFLINE', 'HF_HUB_OFFLINE', 'TRANSFORMERS_OFFLINE'): os.environ.setdefault(k, '1')
import numpy as np, pytest, torch
from torch.nn.modules.batchnorm import _BatchNorm
from ftlearn.data.datasets import load_data
from ftlearn.models.features import FeatureCache
from ftlearn.tasks.core import make_task
from ftlearn.callback.budget import fit_steps
from ftlearn.strategies.all import run_strategy
from ftlearn.strategies.core import n_params, make_learner
from ftlearn.strategies.peft import *
import ftlearn.compare as C
from ftlearn.cli import main

@pytest.fixture(scope='module')
def img(tmp_path_factory):
    sp = load_data('fashion_mnist', n_per_class=6, n_valid=20, n_test=20)
    return make_task(sp, 'efficientnet_lite0', size=32, bs=16, cache=FeatureCache(tmp_path_factory.mktemp('f')))

@pytest.fixture(scope='module')
def txt(tmp_path_factory):
    sp = load_data('rotten_tomatoes', n_per_class=8, n_valid=8, n_test=8)
    return make_task(sp, 'all-MiniLM-L6-v2', max_len=16, bs=8, cache=FeatureCache(tmp_path_factory.mktemp('t')))

def batch(task): return next(iter(task.test_dl()))[0][:4]

def train(task, model, steps=3, lr=1e-2, bn='frozen'):
    "A few fastai steps the way the PEFT strategies take them (unfreeze and train_bn=True included); the state before."
    w0 = {n: p.detach().clone() for n, p in model.named_parameters()}
    b0 = {n: b.clone() for n, b in model.named_buffers()}
    learn = make_learner(task, model, 'test', 0, False, None, train_bn=True, bn=bn, splitter=trainable_splitter(task))
    learn.unfreeze(); fit_steps(learn, steps, lr)
    changed = {n for n, p in model.named_parameters() if not torch.equal(p.detach(), w0[n])}
    moved = {n for n, b in model.named_buffers() if b.dtype.is_floating_point and not torch.equal(b, b0[n])}
    return learn, changed, moved

def test_lora_text_starts_at_base_and_counts(txt):
    base = txt.model().eval(); ref = copy.deepcopy(base)
    m = lora_model(txt, base).eval()
    x = batch(txt)
    with torch.no_grad(): assert torch.equal(m(x), ref(x))
    assert n_params(m, True) - n_params(txt.head(m)) == 73_728
    assert 0.002 < 73_728 / n_params(txt.feature_model()) < 0.004      # ~0.3% of the encoder

def test_lora_text_only_adapter_and_head_change(txt):
    m = lora_model(txt)
    learn, changed, _ = train(txt, m, lr=1e-2)
    assert len(learn.opt.param_groups) == 2
    assert changed and all('lora_' in n or 'classifier' in n for n in changed)
    assert any('lora_B' in n for n in changed) and any('classifier' in n for n in changed)
    assert all(not p.requires_grad for n, p in m.named_parameters() if 'lora_' not in n and 'classifier' not in n)

def test_merged_equals_unmerged(txt, img):
    for task in (txt, img):
        m = lora_model(task).eval(); x = batch(task)
        with torch.no_grad():
            for n, p in m.named_parameters():
                if 'lora_B' in n: p.normal_(0, 0.02)
            a = m(x); merged = merge_adapter(m).eval(); b = merged(x)
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
        assert not any('lora' in n for n, _ in merged.named_parameters())
        assert n_params(merged) == n_params(task.model())

def test_lora_image_targets_only_pointwise(img):
    m = lora_model(img)
    names = {n.split('.lora_')[0].split('.')[-1] for n, _ in m.named_parameters() if 'lora_' in n}
    assert names == {'conv_pw', 'conv_pwl'}

def test_bitfit_image_bn_frozen_statistics(img):
    m = bitfit_model(img)
    _, changed, moved = train(img, m, lr=1e-2, bn='frozen')
    bn = {f'{mn}.{pn}' for mn, mod in m.named_modules() if isinstance(mod, _BatchNorm) for pn, _ in mod.named_parameters(recurse=False)}
    assert changed and changed <= bn | {'classifier.weight', 'classifier.bias'} and changed & bn
    assert not moved                                                   # running statistics stay the pretrained ones

def test_bn_train_statistics_are_saved(img):
    m = lora_model(img)
    _, changed, moved = train(img, m, steps=2, bn='train')
    assert any('running_mean' in n for n in moved)                     # they moved, so the adapter must carry them
    st = adapter_state(m, bn_stats=True)
    assert all(n.replace('base_model.model.', '') in {k.replace('base_model.model.', '') for k in st} for n in moved if 'running' in n)
    assert saved_bytes(adapter_state(m)) < saved_bytes(st) < saved_bytes(merge_adapter(m)) / 5

def test_bitfit_text_trains_biases(txt):
    m = bitfit_model(txt)
    _, changed, _ = train(txt, m, lr=1e-2)
    assert changed and all(n.endswith('bias') or n.startswith('classifier') for n in changed)

def test_ia3_runs_on_both(txt, img):
    for task in (txt, img):
        r = run_strategy('ia3', task, steps=2)
        assert r.trainable_params == n_params(ia3_model(task), True) and r.trainable_params < 0.01 * r.total_params
        assert np.allclose(r.probs.sum(1), 1, atol=1e-4)

def test_compare_gives_same_budget_and_chooses_lr(img, tmp_path):
    df = C.compare(img, 'lora,bitfit', steps=4, lr='auto', lr_grid=(1/3, 1), out=tmp_path, progress=False)
    assert (df.status == 'ok').all() and (df.steps == 4).all() and (df.lr_source == 'auto').all()
    t = df.set_index('strategy').trainable_params
    assert t['bitfit'] < t['lora'] < 0.1 * n_params(img.model())
    assert df.set_index('strategy').lr['lora'] in {float(f'{3e-3 * f:.3g}') for f in (1/3, 1)}

def test_cli_compare_text_with_lora(tmp_path, capsys, monkeypatch):
    import ftlearn.cli
    monkeypatch.setitem(ftlearn.cli.PRESETS, 'small', dict(n_per_class=8, n_valid=16, n_test=16, size=32, epochs=1, bs=8))
    assert main(['compare', '--data', 'rotten_tomatoes', '--strategies', 'lora,bitfit', '--mode', 'small', '--steps', '2',
                 '--lr', 'default', '--seeds', '0', '--out', str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert 'lora' in out and 'bitfit' in out and (tmp_path/'results.csv').exists()

@pytest.mark.parametrize('kw,msg', [(dict(r=0), 'r must be'), (dict(alpha=-1), 'alpha must be'), (dict(dropout=1), 'dropout must be'),
                                    (dict(bn='off'), 'bn must be')])
def test_bad_options_are_clear(img, kw, msg):
    with pytest.raises(ValueError, match=msg): run_strategy('lora', img, steps=1, **kw)

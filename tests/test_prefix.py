"Tests of the frozen-prefix activation cache, the `top_k` strategy and the freeze-depth curve, on real weights and tiny real data (offline)."
import warnings
import numpy as np, pytest, torch
from fastai.torch_core import set_seed
from ftlearn.data.datasets import load_data
from ftlearn.models.features import FeatureCache
from ftlearn.tasks.core import make_task
from ftlearn.callback.budget import fit_steps
from ftlearn.strategies.all import run_strategy
from ftlearn.strategies.core import n_params
from ftlearn.strategies.finetune import frozen_state
from ftlearn.models.backbones import stage_splitter
import ftlearn.strategies.top_k as P
from ftlearn.strategies.top_k import (split_model, n_groups, prefix_activations, prefix_learner, frozen_learner, check_cacheable)
from ftlearn.studies.freeze_depth import freeze_depth, plot_freeze_depth

# Tolerances: activations and outputs rtol 1e-4 / atol 1e-5 (float32 rounding: the cache ran the prefix on batches
# of another size); weights after the same training steps rtol 1e-4 / atol 1e-5; accuracies equal.
TOL = dict(rtol=1e-4, atol=1e-5)

@pytest.fixture(scope='module', autouse=True)
def one_thread():
    "Tiny models: one thread is fastest, and two threads fighting a parallel job on a 2-core machine are far slower."
    n = torch.get_num_threads(); torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)

@pytest.fixture(scope='module')
def splits(): return load_data('fashion_mnist', n_per_class=6, n_valid=30, n_test=40)

@pytest.fixture
def task(splits, tmp_path): return make_task(splits, 'efficientnet_lite0', size=32, bs=16, cache=FeatureCache(tmp_path/'features'))

@pytest.fixture(scope='module')
def text_task(tmp_path_factory):
    rt = load_data('rotten_tomatoes', n_per_class=8, n_valid=12, n_test=16)
    return make_task(rt, 'all-MiniLM-L6-v2', max_len=32, bs=8, cache=FeatureCache(tmp_path_factory.mktemp('features')))

def _full_outputs(model, task, split='test'):
    with torch.no_grad(): return torch.cat([model(xb) for xb, _ in task.split_dl(split)])

@pytest.mark.parametrize('cut', [1, 3, 7, 8, 9])
def test_suffix_on_cached_activations_equals_full_model(task, cut):
    model = task.model().eval()
    full = _full_outputs(model, task)
    A, y = prefix_activations(task, model, cut, 'test')
    _, suffix = split_model(model, cut)
    with torch.no_grad(): torch.testing.assert_close(suffix(A), full, **TOL)
    assert torch.equal(y, torch.as_tensor(task.splits.y_test))
    assert not any(m.training for m in model.modules())   # extraction left every module's mode as it was

def test_text_suffix_on_cached_activations_equals_full_model(text_task):
    model = text_task.model().eval()
    full = _full_outputs(model, text_task)
    for cut in (1, 4, 7, 8):
        A, _ = prefix_activations(text_task, model, cut, 'test')
        with torch.no_grad(): torch.testing.assert_close(split_model(model, cut)[1](A), full, **TOL)

def test_prefix_is_exactly_the_frozen_groups(task):
    model = task.model()
    groups = stage_splitter(model)
    for cut in range(n_groups(model)):
        prefix, suffix = split_model(model, cut)
        assert {id(p) for p in prefix.parameters()} == {id(p) for g in groups[:cut] for p in g}
        assert {id(p) for p in suffix.parameters()} == {id(p) for g in groups[cut:] for p in g}
    prefix, suffix = split_model(model, n_groups(model))
    assert {id(p) for p in suffix.parameters()} == {id(p) for p in model.classifier.parameters()}

def _train(task, use_cache, cut, steps=4, seed=0):
    set_seed(seed, reproducible=True)
    model = task.model()
    learn = (prefix_learner if use_cache else frozen_learner)(task, model, cut, seed)
    frozen = frozen_state(model, [list(learn.prefix.parameters())])
    fit_steps(learn, steps, 1e-3)
    return model, learn, frozen

@pytest.mark.parametrize('cut', [2, 7, 9])
def test_training_through_cache_equals_fastai_frozen_training(task, cut):
    m1, l1, f1 = _train(task, False, cut)
    m2, l2, f2 = _train(task, True, cut)
    for (k, a), b in zip(m1.state_dict().items(), m2.state_dict().values()): torch.testing.assert_close(a, b, **TOL, msg=k)
    for r1, r2 in zip(l1.history.rows, l2.history.rows):
        assert r1['valid_accuracy'] == r2['valid_accuracy'] and r1['step'] == r2['step']
        assert abs(r1['train_loss'] - r2['train_loss']) < 1e-4
    # the frozen prefix (weights and BatchNorm statistics) is untouched on both sides, and the suffix did train
    for (p0, b0), m in ((f1, m1), (f2, m2)):
        p1, b1 = frozen_state(m, [list(split_model(m, cut)[0].parameters())])
        assert all(torch.equal(a, b) for a, b in zip(p0 + b0, p1 + b1))
    assert not torch.equal(m2.classifier.weight, task.model().classifier.weight)

def test_text_training_through_cache_equals_fastai(text_task):
    "MiniLM has dropout: the prefix is in eval mode on both sides and the suffix draws the same masks."
    m1, l1, _ = _train(text_task, False, 4)
    m2, l2, _ = _train(text_task, True, 4)
    for a, b in zip(m1.state_dict().values(), m2.state_dict().values()): torch.testing.assert_close(a, b, **TOL)
    assert abs(l1.history.rows[-1]['train_loss'] - l2.history.rows[-1]['train_loss']) < 1e-5

def test_top_k_strategy_matches_fastai(task):
    r = run_strategy('top_k', task, steps=4, k=2, lr=1e-3)
    ref = run_strategy('top_k', task, steps=4, k=2, lr=1e-3, cache=False)
    assert r.accuracy == ref.accuracy and r.trainable_params == ref.trainable_params < r.total_params
    np.testing.assert_allclose(r.probs, ref.probs, atol=1e-4)
    assert abs(r.valid_accuracy - ref.valid_accuracy) < 1e-9 and r.steps == ref.steps == 4
    assert 'cached prefix' in r.notes and 'cached prefix' not in ref.notes
    assert [w['stage'] for w in r.weight_change] == [w['stage'] for w in ref.weight_change]

def test_cache_refuses_what_would_change_the_result(task, text_task):
    with pytest.raises(ValueError, match='augment=True'): run_strategy('top_k', task, steps=2, k=2, augment=True)
    with pytest.raises(ValueError, match='BatchNorm'): run_strategy('top_k', task, steps=2, k=2, bn='train')
    with pytest.raises(ValueError, match='dropout'): check_cacheable(split_model(text_task.model(), 3)[0], bn='train')
    with pytest.raises(ValueError, match='augment'): prefix_learner(task, task.model(), 3, augment=True)
    run_strategy('top_k', task, steps=2, k=2, augment=True, cache=False)   # fastai's frozen training still runs them
    with pytest.raises(ValueError, match='k must be'): run_strategy('top_k', task, steps=2, k=10)
    with pytest.raises(ValueError, match='cache must be'): run_strategy('top_k', task, steps=2, k=2, cache='yes')

@pytest.mark.parametrize('damage', ['truncate', 'flip'])
def test_corrupt_entry_is_rebuilt(task, damage):
    model = task.model().eval()
    A, _ = prefix_activations(task, model, 7, 'test')
    p = task.cache.path(P._key(task, model, 7, 'test'))
    b = bytearray(p.read_bytes())
    if damage == 'truncate': b = b[:len(b) // 2]
    else: b[len(b) // 2] ^= 0xFF    # one flipped byte inside the stored tensors: the checksum catches it
    p.write_bytes(bytes(b))
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always')
        A2, _ = prefix_activations(task, model, 7, 'test')
    assert any('corrupt' in str(x.message) for x in w)
    assert torch.equal(A, A2) and p.exists()

def test_cache_keys_and_reuse(task, monkeypatch):
    calls = []
    orig = P.extract_features
    monkeypatch.setattr(P, 'extract_features', lambda *a, **k: calls.append(1) or orig(*a, **k))
    m0 = task.model()
    prefix_activations(task, m0, 5, 'test'); prefix_activations(task, task.model(), 5, 'test')
    assert len(calls) == 1                      # another seed's model: same prefix weights, same entry (the head is not in it)
    prefix_activations(task, m0, 6, 'test')     # another cut: a new entry...
    assert len(calls) == 2
    monkeypatch.setattr(task, 'split_dl', lambda *a: pytest.fail('read the images instead of the cached cut 6'))
    A7, _ = prefix_activations(task, m0, 7, 'test')    # ...and cut 7 computed from cut 6's entry, not from the images
    monkeypatch.undo()
    m0.eval()
    with torch.no_grad(): torch.testing.assert_close(split_model(m0, 7)[1](A7), _full_outputs(m0, task), **TOL)
    with torch.no_grad(): m0.blocks[0][0].conv_dw.weight.mul_(1.01)
    n = len(list(task.cache.folder.glob('*.pt')))
    prefix_activations(task, m0, 5, 'test')     # other prefix weights: a new entry
    assert len(list(task.cache.folder.glob('*.pt'))) == n + 1

def test_compare_tunes_top_k_lr(task, tmp_path):
    from ftlearn.compare import compare
    df = compare(task, ['top_k'], steps=2, lr='auto', k=1, out=tmp_path/'runs', progress=False)
    assert len(df) == 1 and df.lr_source.iloc[0] == 'auto' and len(df.lr_grid.iloc[0]) == 3
    assert df.trainable_params.iloc[0] == n_params(task.model().conv_head) + n_params(task.model().bn2) + n_params(task.model().classifier)

def test_freeze_depth_curve(task, tmp_path):
    df = freeze_depth(task, ks=[0, 1, 9], seeds=(0, 1), steps=2, lr=1e-3, out=tmp_path/'curve')
    assert list(df.k) == [0, 0, 1, 1, 9, 9] and list(df.seed) == [0, 1] * 3
    assert list(df.used_cache) == [True] * 4 + [False] * 2
    assert df.trainable_params.is_monotonic_increasing and df.trainable_params.iloc[-1] == n_params(task.model())
    assert {'k', 'trainable_params', 'accuracy', 'valid_accuracy', 'seconds', 'seed', 'used_cache'} <= set(df.columns)
    again = freeze_depth(task, ks=[0, 1, 9], seeds=(0, 1), steps=2, lr=1e-3, out=tmp_path/'curve')   # resumed: read back
    assert list(again.accuracy) == list(df.accuracy)
    fig = plot_freeze_depth(df)
    assert len(fig.axes) == 3 and fig.axes[0].get_xlabel().startswith('k')

def test_cli_runs_top_k(tmp_path, capsys):
    "`ftlearn compare --strategies top_k --top-k 1` reaches the strategy (registered on first use) and reports its row."
    from ftlearn.cli import main
    out = tmp_path/'cli'
    rc = main(['compare', '--data', 'fashion_mnist', '--n-per-class', '3', '--size', '32', '--steps', '2', '--lr', '1e-3',
               '--strategies', 'top_k', '--top-k', '1', '--out', str(out)])
    assert rc == 0
    import pandas as pd
    df = pd.read_csv(out/'results.csv')
    assert list(df.strategy) == ['top_k'] and 'top 1 of 9 groups' in df.notes.iloc[0]
    assert main(['compare', '--strategies', 'top_k', '--top-k', '-1', '--out', str(out)]) == 2
    assert '--top-k' in capsys.readouterr().err

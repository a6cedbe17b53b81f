"Integration tests of the feature cache, the strategies and the comparison harness on real weights and data (offline)."
import dataclasses, json, os
import numpy as np, pytest, torch
from ftlearn.data.datasets import load_data
from ftlearn.models.features import FeatureCache, extract_features, model_fingerprint
from ftlearn.tasks.core import make_task
import ftlearn.compare as C
from ftlearn.strategies.all import run_strategy, STRATEGIES
from ftlearn.callback.guard import TrainingDiverged
from ftlearn.strategies.core import default_lr
from ftlearn.cli import main

@pytest.fixture(scope='module')
def splits(): return load_data('fashion_mnist', n_per_class=6, n_valid=30, n_test=40)

@pytest.fixture
def task(splits, tmp_path): return make_task(splits, 'efficientnet_lite0', size=32, bs=32, cache=FeatureCache(tmp_path/'features'))

def test_cached_features_equal_fresh(task):
    X1, y1 = task.features('test', progress=False)          # computed and stored
    X2, y2 = task.features('test', progress=False)          # from disk
    fm = task.feature_model()
    X3, y3 = extract_features(fm, task.split_dl('test'), task.pooled, 'cpu', progress=False)
    assert torch.equal(X1, X2) and torch.equal(y1, y2)
    torch.testing.assert_close(X2, X3, rtol=1e-4, atol=1e-4)
    assert torch.equal(y3, torch.as_tensor(task.splits.y_test))

def test_cache_key_changes_with_inputs(task, splits, tmp_path):
    task.features('test', progress=False)
    n = len(list((tmp_path/'features').glob('*.pt')))
    other = make_task(load_data('fashion_mnist', n_per_class=6, n_valid=30, n_test=40, seed=1), 'efficientnet_lite0', size=32,
                      cache=task.cache)
    other.features('test', progress=False)                   # other data -> new entry
    bigger = make_task(splits, 'efficientnet_lite0', size=40, cache=task.cache)
    bigger.features('test', progress=False)                  # other transform -> new entry
    assert len(list((tmp_path/'features').glob('*.pt'))) == n + 2

def test_probe_leaves_backbone_untouched(task):
    fp = model_fingerprint(task.feature_model())
    r = run_strategy('linear_probe', task)
    assert model_fingerprint(task.feature_model()) == fp
    assert r.trainable_params == 1280 * 10 + 10 < r.total_params

def test_lp_ft_starts_from_probe_head(task, monkeypatch):
    "LP-FT's fine-tuning phase must start with the probe's weights in the model's head."
    seen = {}
    import ftlearn.strategies.finetune as S
    orig = S.make_learner
    def spy(task_, model, name, *a, **k):
        if name == 'lp_ft': seen['w'] = task_.head(model).weight.detach().clone()
        return orig(task_, model, name, *a, **k)
    monkeypatch.setattr(S, 'make_learner', spy)
    run_strategy('lp_ft', task, steps=2)
    probe = S.train_probe(task, default_lr(task, 'linear_probe'), None, 0).model.cpu()
    torch.testing.assert_close(seen['w'], probe.weight.detach())

def test_compare_resumes_after_interrupt(task, tmp_path, monkeypatch):
    calls = []
    orig = C.run_strategy
    def flaky(name, t, **kw):
        calls.append(name)
        if len(calls) == 2: raise KeyboardInterrupt
        return orig(name, t, **kw)
    monkeypatch.setattr(C, 'run_strategy', flaky)
    with pytest.raises(KeyboardInterrupt):
        C.compare(task, ['feature_extraction', 'linear_probe'], seeds=[0], epochs=1, out=tmp_path, progress=False)
    assert len(list((tmp_path/'runs').glob('*.json'))) == 1  # the finished run is on disk
    calls.clear()
    df = C.compare(task, ['feature_extraction', 'linear_probe'], seeds=[0], epochs=1, out=tmp_path, progress=False)
    assert calls == ['linear_probe'] and list(df.strategy) == ['feature_extraction', 'linear_probe']
    assert {'accuracy', 'macro_f1', 'roc_auc', 'trainable_params', 'total_params', 'seconds', 'peak_mem_mb', 'epochs_run'} <= set(df.columns)

def test_diverging_run_is_reported_and_others_kept(task, tmp_path, monkeypatch):
    orig = C.run_strategy
    def diverge(name, t, **kw):
        if name == 'linear_probe': raise TrainingDiverged('linear_probe: the training loss became nan in epoch 1 (batch 1)')
        return orig(name, t, **kw)
    monkeypatch.setattr(C, 'run_strategy', diverge)
    df = C.compare(task, ['feature_extraction', 'linear_probe'], seeds=[0], epochs=1, out=tmp_path, progress=False)
    assert list(df.status) == ['ok', 'diverged'] and 'epoch 1' in df.error.iloc[1]
    assert len(list((tmp_path/'runs').glob('*.json'))) == 1

def test_bad_input(task, tmp_path):
    with pytest.raises(ValueError, match='training split has no examples'):
        load_data('fashion_mnist', frac=0.00005)
    with pytest.raises(ValueError, match='unknown strategies'):
        C.compare(task, ['linear_probe', 'ridge'], out=tmp_path)
    with pytest.raises(ValueError, match='epochs'):
        C.compare(task, ['linear_probe'], epochs=0, out=tmp_path)
    blocker = tmp_path/'file'; blocker.write_text('x')
    with pytest.raises(ValueError, match='cannot write'):
        C.compare(task, ['linear_probe'], out=blocker/'sub')

def test_cli_errors_are_short(tmp_path, capsys):
    assert main(['compare', '--data', 'nope', '--out', str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith('ftlearn: error: unknown data set') and 'Traceback' not in err

@pytest.mark.parametrize('precision,cbs', [('bf16+channels_last', {'channels_last', 'mixed_precision'}), ('bf16', {'mixed_precision'})])
def test_cuda_speedups_are_wired(task, monkeypatch, precision, cbs):
    "The CUDA path (bf16 autocast, channels_last) is only taken on a GPU; check here, on CPU, that it attaches fastai's callbacks."
    import ftlearn.strategies.core as S
    monkeypatch.setattr(S, 'precision_of', lambda t: precision)
    learn = S.make_learner(task, task.model(), 'full_finetune', 0, False, None)
    assert learn.precision == precision
    assert {n for n in ('channels_last', 'mixed_precision') if hasattr(learn, n)} == cbs
    assert learn.mixed_precision.amp_mode.value == 'bf16'


# --- the fair protocol: reproducible runs, learning above chance, and a negative control ---------------------------

_RUN = """
import json, os, sys
os.environ['FTLEARN_OFFLINE'] = '1'
from ftlearn.data.datasets import load_data
from ftlearn.tasks.core import make_task
from ftlearn.models.features import FeatureCache
from ftlearn.strategies.all import run_strategy
task = make_task(load_data('fashion_mnist', n_per_class=6, n_valid=30, n_test=40), 'efficientnet_lite0', size=32, bs=32,
                 cache=FeatureCache(sys.argv[1]))
print(json.dumps(run_strategy('full_finetune', task, steps=4, seed=3).probs.tolist()))
"""

def test_same_numbers_in_a_fresh_process(task, tmp_path):
    "A run's numbers depend on its strategy, seed and configuration only, not on what ran before it in the process."
    import subprocess, sys
    run_strategy('scratch', task, steps=2, seed=9); torch.randn(100)       # disturb this process's random state first
    here = run_strategy('full_finetune', task, steps=4, seed=3).probs
    out = subprocess.run([sys.executable, '-c', _RUN, str(tmp_path/'fresh')], capture_output=True, text=True, check=True).stdout
    np.testing.assert_allclose(np.array(json.loads(out.strip().splitlines()[-1])), here, atol=1e-5)

def test_resumed_comparison_equals_uninterrupted(task, tmp_path, monkeypatch):
    cols = ['strategy', 'seed', 'accuracy', 'valid_accuracy', 'lr', 'feature_cka']
    straight = C.compare(task, ['full_finetune', 'lp_ft'], seeds=[0, 1], steps=3, out=tmp_path/'a', progress=False, lr=None)
    orig, calls = C.run_strategy, []
    def interrupted(name, t, **kw):
        calls.append(name)
        if len(calls) == 3: raise KeyboardInterrupt
        return orig(name, t, **kw)
    monkeypatch.setattr(C, 'run_strategy', interrupted)
    with pytest.raises(KeyboardInterrupt):
        C.compare(task, ['full_finetune', 'lp_ft'], seeds=[0, 1], steps=3, out=tmp_path/'b', progress=False, lr=None)
    monkeypatch.setattr(C, 'run_strategy', orig)
    resumed = C.compare(task, ['full_finetune', 'lp_ft'], seeds=[0, 1], steps=3, out=tmp_path/'b', progress=False, lr=None)
    a, b = straight[cols].to_dict('records'), resumed[cols].to_dict('records')
    for ra, rb in zip(a, b):   # accuracies exactly; CKA to float noise (CPU kernels may sum in another order)
        assert {k: ra[k] for k in cols[:5]} == {k: rb[k] for k in cols[:5]}
        assert abs(ra['feature_cka'] - rb['feature_cka']) < 1e-5
    assert len(a) == len(b) == 4

@pytest.fixture(scope='module')
def easy_task(tmp_path_factory):
    "Faces vs non-faces (scikit-image's real photos, 2 classes): close to ImageNet, easy for every strategy."
    return make_task(load_data('faces', n_valid=40, n_test=60, seed=0), 'efficientnet_lite0', size=32, bs=16,
                     cache=FeatureCache(tmp_path_factory.mktemp('features')))

# steps and the accuracy each strategy must reach on the balanced 60-photo test set (chance: 50%); gradual unfreezing
# spreads its steps over 9 stages, so it gets 5 per stage
EASY = dict(linear_probe=(None, .9), fine_tune=(24, .9), full_finetune=(24, .9), gradual_unfreeze=(45, .9), lp_ft=(24, .85),
            scratch=(60, .7))

@pytest.mark.parametrize('name', list(EASY))
def test_learns_above_chance_and_lr0_is_chance(easy_task, name):
    "Every trained strategy learns well above chance on an easy task; at learning rate 0 the same recipe stays at chance."
    steps, least = EASY[name]
    assert easy_task.splits.y_test.mean() == 0.5                  # balanced: chance is 50%
    r = run_strategy(name, easy_task, steps=steps, seed=0)
    assert r.accuracy >= least, (name, r.accuracy)
    if name == 'lp_ft': return   # at lr 0 LP-FT keeps its probe's head (05_strategies tests it equals the probe)
    r0 = run_strategy(name, easy_task, steps=steps, seed=0, lr=0)
    assert r0.accuracy <= 0.65, (name, r0.accuracy)

# --- no run at chance is ever 'ok' (issue 22) ---------------------------------------------------------------------

@pytest.fixture(scope='module')
def digits(tmp_path_factory):
    "UCI digits through the embedded EfficientNet-Lite0 at 32 px: pretrained features well above chance (a fixed cache)."
    sp = load_data('uci_digits', n_per_class=10, n_valid=50, n_test=50)
    return make_task(sp, 'efficientnet_lite0', size=32, bs=20, cache=FeatureCache(tmp_path_factory.mktemp('features')))

@pytest.mark.parametrize('name', ['full_finetune', 'fine_tune', 'gradual_unfreeze', 'lp_ft', 'top_k', 'lora', 'bitfit', 'l2sp'])
def test_absurd_rate_is_never_ok(digits, tmp_path, name):
    "At lr=1e6 every family of trained strategy ends diverged or collapsed, through compare and through run_strategy."
    df = C.compare(digits, [name], steps=9, lr=1e6, out=tmp_path, progress=False)
    assert df.status.item() in ('diverged', 'collapsed'), df[['strategy', 'status', 'accuracy']]
    assert df.lr.item() == 1e6 and 'learning rate' in df.error.item()   # the rate, and the hint
    with pytest.raises(TrainingDiverged): run_strategy(name, digits, steps=9, lr=1e6)

def test_weak_runs_are_not_flagged(digits, tmp_path):
    "Negative controls: training from scratch that stays near chance is weak, not collapsed; so is a pretrained run on labels without signal."
    r = run_strategy('scratch', digits, steps=4, lr=1e-4)   # 4 tiny steps from random weights: near chance, and nothing was lost
    assert r.valid_accuracy < 0.35
    rng = np.random.default_rng(0)
    sp = digits.splits
    noise = dataclasses.replace(sp, name='uci_digits_shuffled', y_train=rng.permutation(sp.y_train), y_valid=rng.permutation(sp.y_valid))
    t = make_task(noise, 'efficientnet_lite0', size=32, bs=20, cache=digits.cache)
    df = C.compare(t, ['full_finetune'], steps=9, lr=1e-3, out=tmp_path, progress=False)
    assert df.status.item() == 'ok'   # at chance, but its pretrained features were at chance on these labels too

def test_cli_checks_every_budget_before_training(tmp_path, monkeypatch, capsys):
    "`ftlearn compare --strategies all` with a budget some strategies cannot use stops before any training, naming each of them."
    monkeypatch.setattr(C, 'run_strategy', lambda *a, **k: pytest.fail('trained before checking every budget'))
    args = ['compare', '--data', 'uci_digits', '--n-per-class', '2', '--size', '32', '--strategies', 'all', '--out', str(tmp_path)]
    assert main(args + ['--steps', '1']) == 2
    err = capsys.readouterr().err
    assert 'fine_tune needs at least 2 steps' in err and 'gradual_unfreeze needs at least one step per stage, 9 stages (steps=9 or more; --steps 9)' in err
    assert main(args + ['--steps', '4']) == 2
    err = capsys.readouterr().err
    assert 'gradual_unfreeze' in err and 'fine_tune' not in err
    assert not list(tmp_path.glob('runs/*.json'))

# --- regularisers (issue 26): options of every trained strategy, off by default, checked, recorded ---
from ftlearn.strategies.core import REGULARISERS, check_budgets, strategy, make_learner
import ftlearn.strategies.core as SC

def test_every_trained_strategy_takes_the_regularisers():
    for s, info in STRATEGIES.items():
        assert set(REGULARISERS) <= set(info.options()) if not info.frozen else not set(REGULARISERS) & set(info.options()), s

@pytest.mark.parametrize('name', ['full_finetune', 'fine_tune', 'top_k'])
def test_regularisers_off_and_train_accuracy_change_nothing(task, monkeypatch, name):
    "Off is off to the bit, and scoring the training examples at each validation point leaves the training alone."
    plain = run_strategy(name, task, steps=4)
    off = run_strategy(name, task, steps=4, **REGULARISERS)
    monkeypatch.setattr(SC, 'TRAIN_EVAL_N', 0)
    untracked = run_strategy(name, task, steps=4)
    assert np.array_equal(plain.probs, off.probs) and np.array_equal(plain.probs, untracked.probs)
    assert all('train_accuracy' in h for h in plain.history) and not any('train_accuracy' in h for h in untracked.history)
    drop = lambda hs: [{k: v for k, v in h.items() if k != 'train_accuracy'} for h in hs]
    assert drop(plain.history) == untracked.history

@pytest.mark.parametrize('opt', [dict(label_smoothing=0.1), dict(mixup=0.4), dict(head_dropout=0.5)])
def test_each_regulariser_changes_training(task, opt):
    for name in ('full_finetune', 'fine_tune'):   # `fine_tune` builds fastai's vision_learner, the others `make_learner`
        plain, reg = run_strategy(name, task, steps=4), run_strategy(name, task, steps=4, **opt)
        assert not np.allclose(plain.probs, reg.probs, atol=1e-5), (name, opt)
        assert f'{list(opt)[0]}=' in reg.notes

def test_early_stop_keeps_the_best_point_and_spends_the_budget(task):
    r = run_strategy('full_finetune', task, steps=12, lr=3e-3, early_stop=True)
    kept = [h for h in r.history if h.get('kept')]
    assert len(kept) == 1 and r.steps == 12 and r.history[-1]['step'] == 12
    assert r.valid_accuracy == kept[0]['valid_accuracy'] == max(h['valid_accuracy'] for h in r.history)
    assert kept[0] is not r.history[-1]              # here a better point came before the end
    m, right = r.model.eval(), 0                      # the weights it ends with are the kept point's
    with torch.no_grad():
        for xb, yb in task.split_dl('valid'): right += int((m(xb).argmax(1) == yb).sum())
        probs = torch.cat([torch.softmax(m(xb), 1) for xb, _ in task.test_dl()]).numpy()
    assert right / len(task.splits.y_valid) == pytest.approx(kept[0]['valid_accuracy'])
    np.testing.assert_allclose(probs, r.probs, atol=1e-5)   # and the test set was scored with them

def test_regulariser_checks(task, tmp_path):
    for bad, msg in [(dict(label_smoothing=1.0), 'label_smoothing must be'), (dict(mixup=-1), 'mixup must be'),
                     (dict(head_dropout=1), 'head_dropout must be'), (dict(early_stop=1), 'early_stop must be True or False')]:
        with pytest.raises(ValueError, match=msg): run_strategy('lora', task, steps=2, **bad)
        with pytest.raises(ValueError, match=msg): C.compare(task, ['full_finetune'], steps=2, out=tmp_path, progress=False, **bad)
    with pytest.raises(ValueError, match='cache=False'): run_strategy('top_k', task, steps=2, mixup=0.4)

def test_mixup_refused_on_text_before_training(tmp_path):
    t = make_task(load_data('rotten_tomatoes', n_per_class=8, n_valid=12, n_test=16), 'all-MiniLM-L6-v2', cache=FeatureCache(tmp_path))
    with pytest.raises(ValueError, match='token ids'): check_budgets(t, ['full_finetune'], 4, {'full_finetune': dict(mixup=0.4)})
    check_budgets(t, ['full_finetune'], 4, {'full_finetune': dict(label_smoothing=0.1)})

def test_regularisers_are_part_of_the_run_record(task, tmp_path):
    a = C.compare(task, ['full_finetune'], steps=2, lr=1e-3, out=tmp_path, progress=False)
    b = C.compare(task, ['full_finetune'], steps=2, lr=1e-3, out=tmp_path, progress=False, head_dropout=0.3)
    assert len(list((tmp_path/'runs').glob('*.json'))) == 2 and a.run[0] != b.run[0]
    rec = json.loads((tmp_path/'runs'/f'{b.run[0]}.json').read_text())
    assert rec['opts'] == {'head_dropout': 0.3} and 'train_accuracy' in rec['history'][-1]

def test_a_strategy_without_make_learner_refuses_regularisers(task):
    @strategy(order=98)
    def own_loop(task, steps=None, epochs=3, lr=None, wd=None, augment=False, seed=0):
        "Trains with a loop of its own (here: none), so the regularisers cannot reach it."
        return SC.RunResult('own_loop', seed, np.ones((1, 2)) / 2, np.zeros(1, int), 0, 0, 0)
    try:
        assert own_loop(task).notes == ''
        with pytest.raises(ValueError, match='without make_learner'): own_loop(task, mixup=0.2)
    finally: del STRATEGIES['own_loop']

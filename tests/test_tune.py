"Tuning: a search finds a known optimum, resumes its trial count, prunes through fastai; k-fold selection beats an unlucky split; learning curves."
import math
import numpy as np, pandas as pd, pytest, torch
import optuna
from ftlearn.data.core import DataSplits
from ftlearn.data.datasets import load_data
from ftlearn.models.features import FeatureCache
from ftlearn.tasks.core import make_task
from ftlearn.tune import (choose_by_folds, fold_tasks, learning_curve, pick_by_folds, search, search_space, search_trials,
                          train_fraction)

torch.set_num_threads(1)

@pytest.fixture(scope='module')
def task(tmp_path_factory):
    return make_task(load_data('fashion_mnist', n_per_class=4, n_valid=20, n_test=20), 'efficientnet_lite0', size=32, bs=8,
                     cache=FeatureCache(tmp_path_factory.mktemp('features')))

def quadratic(task, strategy, config, seed, trial):
    "A known objective: best at lr=3e-3 and label_smoothing=0.1, flat in everything else."
    return 1 - math.log10(config['lr'] / 3e-3) ** 2 - 10 * (config['label_smoothing'] - 0.1) ** 2

def test_search_finds_the_optimum_of_a_synthetic_objective(task, tmp_path):
    best = search(task, 'full_finetune', n_trials=30, steps=4, out=tmp_path, run=quadratic)
    assert 1.5e-3 < best.config['lr'] < 6e-3 and abs(best.config['label_smoothing'] - 0.1) < 0.08, best.config
    assert best.extra['search_valid_accuracy'] > 0.9 and best.extra['search_trials'] == 30
    worst = min(quadratic(None, None, dict(lr=t.params['lr'], label_smoothing=t.params['label_smoothing']), 0, None)
                for t in optuna.load_study(study_name=best.extra['search_study'],
                                           storage=optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(tmp_path/'search.journal')))).trials)
    assert worst < best.extra['search_valid_accuracy'] - 0.3       # it searched: not every trial was near the optimum

def test_resumed_study_continues_its_trial_count(task, tmp_path):
    calls = []
    def counted(*a):
        calls.append(1)
        return quadratic(*a)
    search(task, 'full_finetune', n_trials=3, steps=4, out=tmp_path, run=counted)
    assert len(calls) == 3
    again = search(task, 'full_finetune', n_trials=5, steps=4, out=tmp_path, run=counted)
    assert len(calls) == 5 and again.extra['search_trials'] == 5           # 5 trials in all, not 3 + 5
    def interrupted(*a):
        calls.append(1)
        if len(calls) == 7: raise KeyboardInterrupt
        return quadratic(*a)
    with pytest.raises(KeyboardInterrupt): search(task, 'full_finetune', n_trials=8, steps=4, out=tmp_path, run=interrupted)
    done = search(task, 'full_finetune', n_trials=8, steps=4, out=tmp_path, run=counted)
    assert done.extra['search_trials'] == 8 and len(calls) == 5 + 2 + 2     # the interrupted trial runs again
    t = search_trials(tmp_path)
    assert t.state.value_counts().to_dict() == {'COMPLETE': 8, 'FAIL': 1}
    other = search(task, 'full_finetune', n_trials=2, steps=4, out=tmp_path, run=counted, seed=1)   # another seed: another study
    assert other.extra['search_trials'] == 2 and other.extra['search_study'] != done.extra['search_study']

class AlwaysPrune(optuna.pruners.BasePruner):
    def prune(self, study, trial): return True

def test_pruning_goes_through_fastai(task, tmp_path):
    "A real run: the pruning callback reports the first validation point, cancels the fit, and the trial is pruned with the steps it trained."
    with pytest.raises(ValueError, match='were pruned'):
        search(task, 'full_finetune', n_trials=2, steps=8, out=tmp_path, pruner=AlwaysPrune())
    t = search_trials(tmp_path)
    assert list(t.state) == ['PRUNED', 'PRUNED'] and (t.steps < 8).all() and (t.steps >= 1).all()

def test_pruned_trials_cost_their_steps(task, tmp_path):
    "With Optuna's median pruner fed at each reported step, poor trials stop early and count only the steps they ran."
    def curve(task, strategy, config, seed, trial):
        q = quadratic(task, strategy, config, seed, trial)
        for step in range(1, 9):
            trial.report(q * step / 8, step)
            if trial.should_prune():
                trial.set_user_attr('steps', step); raise optuna.TrialPruned()
        return q
    r = search(task, 'full_finetune', n_trials=20, steps=8, out=tmp_path, run=curve,
               pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=2))
    assert r.extra['search_pruned'] > 0 and r.extra['search_steps'] < 20 * 8

def test_search_space_and_bad_input(task, tmp_path):
    assert set(search_space(task, 'full_finetune')) == {'lr', 'wd', 'head_lr_mult', 'label_smoothing', 'head_dropout', 'early_stop', 'mixup', 'augment'}
    with pytest.raises(ValueError, match='trained strategy'): search(task, 'linear_probe', out=tmp_path)
    with pytest.raises(ValueError, match='no option'): search(task, 'lora', out=tmp_path, head_lr_mult=3)
    with pytest.raises(ValueError, match='label_smoothing must be'): search(task, 'lora', out=tmp_path, label_smoothing=2)
    with pytest.raises(ValueError, match='search dimension'): search(task, 'lora', out=tmp_path, space=dict(lr=3))

def _toy():
    "Images carrying one number v; the label is v > 128, except six mislabelled v in (128, 192] that all sit in the validation split."
    rng = np.random.default_rng(0)
    v = rng.integers(0, 256, 200); y = (v > 128).astype(int)
    mid = np.flatnonzero((v > 128) & (v <= 192))[:6]; y[mid] = 0
    va = np.r_[mid, np.flatnonzero(v <= 128)[:3], np.flatnonzero(v > 192)[:3]]
    tr = np.setdiff1d(np.arange(200), va)
    img = np.repeat(v.astype(np.uint8)[:, None, None], 4, 1).repeat(4, 2)
    return DataSplits('toy', 'image', ['low', 'high'], img[tr], y[tr], img[va], y[va], img[tr[:20]], y[tr[:20]])

def threshold(task, strategy, config, seed, trial=None):
    "A fake training run: the 'rate' x 1000 is a threshold on v, scored on the task's validation split."
    x, y = task.splits.x_valid[:, 0, 0].astype(int), task.splits.y_valid
    return float(((x > config['lr'] * 1000) == y).mean())

def test_kfold_differs_from_an_unlucky_split(tmp_path):
    toy = make_task(_toy(), 'efficientnet_lite0', size=16)
    one = choose_by_folds(toy, 'full_finetune', folds=1, rates=[0.128, 0.192], steps=1, out=tmp_path, run=threshold)
    five = choose_by_folds(toy, 'full_finetune', folds=5, rates=[0.128, 0.192], steps=1, out=tmp_path, run=threshold)
    assert one.config['lr'] == 0.192 and five.config['lr'] == 0.128
    assert five.extra['folds'] == 5 and five.extra['select_runs'] == 10 and five.extra['fold_valid_std'] > 0
    with_choice = choose_by_folds(toy, 'full_finetune', folds=5, rates=[0.128], choices=dict(early_stop=[False, True]), steps=1,
                                  out=tmp_path, run=threshold)
    assert with_choice.config == dict(lr=0.128, early_stop=False) and with_choice.extra['select_runs'] == 10   # a tie: the first

def test_fold_tasks_leave_the_test_set_out(task):
    fts = fold_tasks(task, 4)
    sp = task.splits
    pool = {x.tobytes() for x in np.concatenate([sp.x_train, sp.x_valid])}
    for t in fts:
        assert {x.tobytes() for x in t.splits.x_test} <= pool and t.splits.fingerprint('test') == t.splits.fingerprint('valid')
        assert np.bincount(t.splits.y_valid, minlength=10).min() >= 1
    assert sorted(len(t.splits.y_valid) for t in fts) == [15, 15, 15, 15]
    with pytest.raises(ValueError, match='rarest class'): fold_tasks(task, 20)

def test_pick_by_folds_on_synthetic_scores():
    s = pd.DataFrame([[0.9, 0.6, 0.6], [0.72, 0.72, 0.72], [0.95, np.nan, 0.9]], index=['a', 'b', 'c'])
    assert pick_by_folds(s) == 'b' and pick_by_folds(s[[0]]) == 'c' and pick_by_folds(s.iloc[[0, 2], [1]]) == 'a'

def test_learning_curve_from_records():
    h = lambda tr, va: [dict(step=s, phase='', train_accuracy=t, valid_accuracy=v) for s, t, v in zip((5, 10), tr, va)]
    recs = [dict(strategy='full_finetune', seed=0, n_train=50, status='ok', accuracy=0.6, valid_accuracy=0.5, history=h((0.6, 1.0), (0.5, 0.5))),
            dict(strategy='full_finetune', seed=1, n_train=50, status='ok', accuracy=0.7, valid_accuracy=0.7, history=h((0.8, 0.9), (0.6, 0.7))),
            dict(strategy='full_finetune', seed=0, n_train=50, status='diverged')]
    by_step = learning_curve(recs, 'step')
    assert by_step.step.tolist() == [5, 10] and by_step.seeds.tolist() == [2, 2]
    np.testing.assert_allclose(by_step.train_accuracy, [0.7, 0.95]); np.testing.assert_allclose(by_step.gap, [0.15, 0.35])
    np.testing.assert_allclose(by_step.valid_accuracy_std, [np.std([0.5, 0.6], ddof=1), np.std([0.5, 0.7], ddof=1)])
    recs[0]['history'][0]['kept'] = True                                  # early stopping kept the first point
    by_n = learning_curve(recs, 'n_train')
    np.testing.assert_allclose(by_n[['frac', 'train_accuracy', 'valid_accuracy', 'test_accuracy']].values, [[1, 0.75, 0.6, 0.65]])
    with pytest.raises(ValueError, match="'step' or 'n_train'"): learning_curve(recs, 'epoch')

def test_train_fraction_keeps_evaluation_data(task):
    t = train_fraction(task, 0.5)
    assert len(t.splits.y_train) == 20 and t.splits.fingerprint('valid') == task.splits.fingerprint('valid')
    assert t.splits.fingerprint('train') != task.splits.fingerprint('train') and task.splits.y_train.shape == (40,)

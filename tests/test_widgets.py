"Widgets and freezing helpers: fastai's own Learner is the reference for learning rates, schedules and freezing."
import os, warnings
os.environ.setdefault('FTLEARN_OFFLINE', '1')
import numpy as np, pandas as pd, pytest, torch
from torch import nn
from fastai.callback.core import Callback
from fastai.data.core import DataLoaders
from fastai.learner import Learner
from fastai.callback.schedule import *  # fit_one_cycle, fit_flat_cos, fit_sgdr
from ftlearn.widgets import *

def _synth_learner(n_groups, n=32):
    "A tiny regression learner with `n_groups` parameter groups (one Linear layer each)."
    torch.manual_seed(0)
    x = torch.randn(n, 2); y = x.sum(1, keepdim=True)
    dls = DataLoaders.from_dsets(list(zip(x, y)), list(zip(x, y)), bs=8)
    model = nn.Sequential(*[nn.Linear(2, 2) for _ in range(n_groups - 1)], nn.Linear(2, 1))
    learn = Learner(dls, model, loss_func=nn.MSELoss(), splitter=lambda m: [list(l.parameters()) for l in m])
    learn.logger = lambda *a, **k: None
    return learn

class _AllGroupLRs(Callback):
    "Record every group's learning rate before each training batch (fastai's Recorder keeps only the last group's)."
    order = 70  # after ParamScheduler
    def before_fit(self): self.lrs = []
    def before_batch(self):
        if self.training: self.lrs.append([h['lr'] for h in self.opt.hypers])

@pytest.mark.parametrize('lr', [slice(1e-5, 1e-3), slice(1e-3), 3e-3, slice(1e-6, 1e-2)])
@pytest.mark.parametrize('n_groups', [1, 2, 3, 9])
def test_group_lrs_match_fastai_learner(lr, n_groups):
    learn = _synth_learner(n_groups)
    rec = _AllGroupLRs()
    with learn.no_bar(): learn.fit_one_cycle(1, lr, cbs=rec)
    # fit_one_cycle's peak per group is what set_hyper assigned; the recorded curve peaks (near) there
    np.testing.assert_allclose(group_lrs(lr, n_groups), np.array(rec.lrs).max(0), rtol=0.05)
    learn.opt.set_hyper('lr', lr)
    np.testing.assert_allclose(group_lrs(lr, n_groups), [h['lr'] for h in learn.opt.hypers])

@pytest.mark.parametrize('schedule,fit', [('one_cycle', lambda l, lr: l.fit_one_cycle(2, lr)),
                                          ('flat_cos', lambda l, lr: l.fit_flat_cos(2, lr)),
                                          ('cosine', lambda l, lr: l.fit_sgdr(1, 2, lr))])
def test_lr_schedule_matches_fastai_fit(schedule, fit):
    learn = _synth_learner(3)
    rec = _AllGroupLRs(); learn.add_cb(rec)
    with learn.no_bar(): fit(learn, slice(1e-5, 1e-3))
    got = np.array(rec.lrs)
    np.testing.assert_allclose(lr_schedule(slice(1e-5, 1e-3), 3, schedule, n_iter=len(got)), got, rtol=1e-6, atol=1e-12)

def test_warmup_schedule_shape():
    s = lr_schedule(slice(1e-4, 1e-2), 2, 'warmup', n_iter=100, pct_start=.2)
    assert s[0].tolist() == [0, 0] and np.argmax(s[:, 1]) == 20
    np.testing.assert_allclose(s.max(0), [1e-4, 1e-2])
    assert (np.diff(s[20:, 1]) < 0).all()

@pytest.mark.parametrize('n_groups,n', [(3, -1), (9, -3), (9, 0), (4, 2), (3, 3)])
def test_trainable_groups_match_learner_freeze_to(n_groups, n):
    learn = _synth_learner(n_groups); learn.create_opt()
    with warnings.catch_warnings():
        warnings.simplefilter('ignore'); learn.freeze_to(n)
    assert trainable_groups(n_groups, n) == [all(p.requires_grad for p in ps) for ps in learn.opt.param_lists]

def test_lr_explorer_callbacks_change_curves_and_figure():
    lx = LRExplorer(lo=1e-5, hi=1e-3, n_groups=3)
    first = lx.curves.copy()
    assert len(lx.ax.lines) == 3
    lx.hi.value = 1e-2
    assert lx.curves.max() == pytest.approx(1e-2) and not np.allclose(lx.curves, first[:, :3] if first.shape == lx.curves.shape else 0)
    lx.n_groups.value = 9
    assert lx.curves.shape == (100, 9) and len(lx.ax.lines) == 9
    assert lx.n_train.max == 9
    lx.n_train.value = 1
    assert lx.trainable == [False] * 8 + [True]
    assert sum(l.get_linestyle() == ':' for l in lx.ax.lines) == 8
    lx.n_groups.value = 2                      # fewer groups than were training: clamps consistently
    assert len(lx.trainable) == 2 and lx.curves.shape[1] == 2
    for s in SCHEDULES:
        lx.schedule.value = s
        assert lx.ax.get_title().startswith(s)
    lx.lo.value, lx.hi.value = 1e-2, 1e-4      # ends given the wrong way round are sorted
    assert lx.curves.max(0)[0] < lx.curves.max(0)[1]

def test_strategy_explorer_run_adds_point(tmp_path):
    table = pd.DataFrame(dict(strategy=['linear_probe'] * 3, seed=[0, 1, 2], accuracy=[.5, .55, .6], n_train=[30] * 3, status='ok'))
    sx = StrategyExplorer(table, size=32, bs=16, n_per_class=(3,), n_valid=20, n_test=30, out=str(tmp_path), epochs=1)
    assert len(sx.ax.containers) == 1
    sx.strategy.value = 'linear_probe'
    row = sx.run()
    assert row['strategy'] == 'linear_probe' and row['status'] == 'ok' and row['n_train'] == 30
    stars = [l for l in sx.ax.lines if l.get_marker() == '*' and len(l.get_xdata())]
    assert len(stars) == 1 and stars[0].get_ydata()[0] == pytest.approx(row['accuracy'])
    assert 'accuracy' in sx.status.value
    sx.run('feature_extraction')                # the button's callback with explicit choices
    assert len(sx.runs) == 2 and len([l for l in sx.ax.lines if l.get_marker() == '*' and len(l.get_xdata())]) == 2
    assert list((tmp_path / 'runs').glob('*.json'))   # runs are cached like the lesson's

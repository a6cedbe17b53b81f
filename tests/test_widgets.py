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

# --- What a user sees: plots as PNG images, readable labels and axes, controls that say what they do ---------------
from matplotlib.backends.backend_agg import FigureCanvasAgg
import ipywidgets as W
PNG = b'\x89PNG\r\n\x1a\n'

def test_explorer_view_carries_png_image_not_figure():
    "The live view holds an ipywidgets Image with PNG bytes (no matplotlib Figure in an Output), and redraws replace them."
    lx = LRExplorer(lo=1e-5, hi=1e-3, n_groups=3)
    view = lx.widget()
    imgs = [w for w in view.children if isinstance(w, W.Image)]
    assert len(imgs) == 1 and bytes(imgs[0].value).startswith(PNG)
    before = bytes(imgs[0].value)
    lx.hi.value = 1e-2
    assert bytes(imgs[0].value).startswith(PNG) and bytes(imgs[0].value) != before
    bundle = lx._repr_mimebundle_()
    assert 'application/vnd.jupyter.widget-view+json' in bundle and bundle['image/png'].startswith('iVBORw0K')

def test_explorers_leave_no_pyplot_figures():
    import matplotlib.pyplot as plt
    n = len(plt.get_fignums())
    LRExplorer(n_groups=3).widget()
    assert len(plt.get_fignums()) == n

def test_lr_explorer_labels_not_cut_and_sliders_debounced():
    lx = LRExplorer(n_groups=4)
    assert lx.n_train.style.description_width == 'initial'      # 'groups training' in full, not 'groups tr…'
    for s in (lx.lo, lx.hi, lx.n_groups, lx.n_train): assert s.continuous_update is False   # a drag redraws once

def test_lr_explorer_title_two_significant_digits():
    lx = LRExplorer(lo=1e-5, hi=7.9e-2, n_groups=3)
    assert 'slice(1e-5, 7.9e-2)' in lx.ax.get_title()

def test_lr_explorer_peak_panel_dots_at_peaks_readable_ticks():
    "Peaks are dots at the peak rates (no bars whose length depends on the axis start); under a decade the ticks label the ends."
    lx = LRExplorer(lo=3e-4, hi=1e-3, n_groups=5)
    assert not lx.ax_bar.patches                                     # no bars
    pts = np.concatenate([c.get_offsets() for c in lx.ax_bar.collections])
    np.testing.assert_allclose(np.sort(pts[:, 0]), np.sort(lx.curves.max(0)))
    FigureCanvasAgg(lx.fig).draw()
    lo, hi = lx.ax_bar.get_xlim()
    labels = [t.get_text() for t in lx.ax_bar.get_xticklabels() if t.get_text() and lo <= t.get_position()[0] <= hi]
    assert labels == ['3e-4', '1e-3']
    lx.lo.value, lx.hi.value = 1e-7, 1e-1
    FigureCanvasAgg(lx.fig).draw()
    lo, hi = lx.ax_bar.get_xlim()
    labels = [t.get_text() for t in lx.ax_bar.get_xticklabels() if t.get_text() and lo <= t.get_position()[0] <= hi]
    assert 2 <= len(labels) <= 4 and all(l.startswith('1e') for l in labels)

def test_lr_explorer_warmup_stays_on_log_axis():
    lx = LRExplorer(lo=1e-5, hi=1e-3, n_groups=3, schedule='warmup')
    y = lx.ax.lines[0].get_ydata()
    assert np.isnan(y[0]) and (y[1:] > 0).all()                     # the 0 at step 0 is left out, not plunged to
    bottom, top = lx.ax.get_ylim()
    assert 0 < bottom <= np.nanmin(y) and top >= lx.curves.max()

# --- StrategyExplorer: one run per click, progress, a legend entry per star, honest status lines ---------------------
def _tiny_sx(tmp_path, table=None, **kw):
    return StrategyExplorer(table, size=32, bs=16, n_per_class=(3,), n_valid=20, n_test=30, out=str(tmp_path), **kw)

def test_strategy_explorer_lr_slider_follows_default_checkbox(tmp_path):
    sx = _tiny_sx(tmp_path)
    assert sx.use_default_lr.value and sx.lr.disabled
    sx.use_default_lr.value = False; assert not sx.lr.disabled
    sx.use_default_lr.value = True; assert sx.lr.disabled
    assert not _tiny_sx(tmp_path, lr=3e-4).lr.disabled

def test_strategy_explorer_run_disables_button_shows_progress_and_drops_queued_click(tmp_path):
    sx = _tiny_sx(tmp_path, epochs=1)
    sx.strategy.value = 'full_finetune'
    seen = dict(disabled=[], status=[], progress=[])
    sx.button.observe(lambda c: seen['disabled'].append(c['new']), names='disabled')
    sx.progress.observe(lambda c: seen['progress'].append(c['new']), names='value')
    def on_status(c):
        seen['status'].append(c['new'])
        if sx.running: sx.button.click()                          # a click handled while the first run trains: dropped
    sx.status.observe(on_status, names='value')
    sx.button.click()
    assert seen['disabled'] == [True, False]
    assert len(sx.runs) == 1                                      # the queued click added no duplicate star
    steps = sx.runs[0]['steps']
    assert steps == len(sx.task(3).dls().train) and sx.progress.max == steps and max(seen['progress']) == steps
    assert any(s.startswith('running full_finetune') for s in seen['status'])
    assert '1 epoch' in sx.status.value and '1 epochs' not in sx.status.value
    sx.button.click()                                             # a click queued behind the run (same choice): not a second star
    assert len(sx.runs) == 1 and 'already on the plot' in sx.status.value

def test_strategy_explorer_every_star_in_legend_and_custom_lr_named(tmp_path):
    table = pd.DataFrame(dict(strategy=['linear_probe'] * 2, seed=[0, 1], accuracy=[.5, .6], n_train=[30] * 2, status='ok'))
    sx = _tiny_sx(tmp_path, table, epochs=1)
    sx.run('feature_extraction')                                  # not in the lesson's table
    sx.run('full_finetune', lr=3e-4)
    sx.run('full_finetune')                                       # default lr: a different star
    labels = [t.get_text() for t in sx.ax.get_legend().get_texts()]
    stars = [l for l in sx.ax.lines if l.get_marker() == '*']
    assert len(stars) == 3 and all(s.get_label() in labels for s in stars)
    assert any(l.startswith('#1 feature_extraction') for l in labels)
    assert any(l.startswith('#2 full_finetune, lr 3e-4, 1 epoch') for l in labels)
    assert any(l.startswith('#3 full_finetune, default lr') for l in labels)
    assert len(set(labels)) == len(labels)

def test_strategy_explorer_cached_repeat_says_so(tmp_path):
    _tiny_sx(tmp_path).run('feature_extraction')
    sx = _tiny_sx(tmp_path)                                       # a new explorer (e.g. after a kernel restart), same out
    row = sx.run('feature_extraction')
    assert row['cached'] and 'from the cache' in sx.status.value

# --- AdvisorWidget: the Advisor's advice under sliders, on a toy grid (tests/test_advise.py) ----------------------------
from test_advise import toy_grid, toy_grid_file
from ftlearn.advise import KEEPS_PRETRAINED, grid_table

@pytest.fixture
def toy_file(tmp_path): return toy_grid_file(tmp_path/'grid.json')

def test_advisor_widget_probe_slider_near_to_far_changes_advice(toy_file):
    aw = AdvisorWidget(grid=toy_file, n_per_class=20, probe_score=.88)
    near = aw.recommendation
    png = (aw.widget(), bytes(aw.image.value))[1]
    aw.probe_score.value = .22
    assert (near, aw.recommendation) == ('linear_probe', 'full_finetune')
    assert aw.recommendation == aw.advisor.recommend(dict(n_per_class=20, probe_score=.22)) == aw.ranking.index[0]
    assert aw.advice.value.startswith('<b>full_finetune</b>') and 'full_finetune' in aw.ranking_view.value
    assert bytes(aw.image.value).startswith(PNG) and bytes(aw.image.value) != png

def test_advisor_widget_keep_old_puts_weight_keeping_strategy_first(toy_file):
    aw = AdvisorWidget(grid=toy_file, n_per_class=20, probe_score=.22)
    assert aw.recommendation not in KEEPS_PRETRAINED
    aw.keep_old.value = True
    assert aw.recommendation in KEEPS_PRETRAINED and aw.ranking.keeps_pretrained.iloc[0]
    assert 'keep the old task' in aw.advice.value

@pytest.mark.parametrize('n,ps', [(20, .88), (5, .22), (3000, .5), (2, 0.)])
def test_advisor_widget_lines_end_at_the_advisors_neighbours(toy_file, n, ps):
    aw = AdvisorWidget(grid=toy_file)
    aw.n_per_class.value, aw.probe_score.value = n, ps
    nb = aw.advisor.neighbours(dict(n_per_class=n, probe_score=ps))
    lines = [l for l in aw.ax.lines if l.get_gid() == 'neighbour']
    assert sorted((l.get_xdata()[1], l.get_ydata()[1]) for l in lines) == sorted(zip(nb.n_per_class, nb.probe_score))
    assert all((l.get_xdata()[0], l.get_ydata()[0]) == (n, ps) for l in lines)     # from the star
    star = [c for c in aw.ax.collections if c.get_gid() == 'you'][0].get_offsets()[0]
    np.testing.assert_allclose(star, [n, ps])

def test_advisor_widget_grid_as_tuple_or_path_and_missing(toy_file, tmp_path):
    runs, sig = toy_grid()
    a, b = AdvisorWidget(grid=(grid_table(runs), sig), probe_score=.3), AdvisorWidget(grid=str(toy_file), probe_score=.3)
    assert a.recommendation == b.recommendation and a.ranking.index.tolist() == b.ranking.index.tolist()
    with pytest.raises(FileNotFoundError, match='no advisor grid summary'): AdvisorWidget(grid=tmp_path/'none.json')

def test_advisor_widget_from_task_sets_controls_from_measured_signals(toy_file, monkeypatch):
    import ftlearn.widgets as wmod
    measured = dict(data='mine', kind='text', backbone='b', n_classes=4, n_per_class=37.0, n_train=148, probe_score=.31,
                    head_entropy=float('nan'), bn_shift=float('nan'), step_seconds=None, keep_old=True)
    monkeypatch.setattr(wmod, 'signals', lambda task, keep_old=False, measure_step=False: {**measured, 'keep_old': keep_old})
    aw = AdvisorWidget.from_task(object(), grid=toy_file, keep_old=True)
    assert (aw.n_per_class.value, aw.probe_score.value, aw.keep_old.value, aw.kind.value) == (37, .31, True, 'text')
    assert aw.signals()['n_classes'] == 4 and 'measured on mine' in aw.advice.value
    assert aw.recommendation == aw.advisor.recommend(dict(n_per_class=37, probe_score=.31), keep_old=True)

def test_advisor_widget_leaves_no_pyplot_figures_and_labels_whole(toy_file):
    import matplotlib.pyplot as plt
    n = len(plt.get_fignums())
    aw = AdvisorWidget(grid=toy_file); aw.widget()
    assert len(plt.get_fignums()) == n
    for w in (aw.n_per_class, aw.probe_score): assert w.continuous_update is False and w.style.description_width == 'initial'
    FigureCanvasAgg(aw.fig).draw()
    assert [t.get_text() for t in aw.ax.get_xticklabels()] == ['2', '10', '100', '1,000', '5,000']

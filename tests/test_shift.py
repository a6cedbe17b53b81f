"ftlearn.data.shift, ftlearn.ood and ftlearn.studies.wise_ft: corruptions are seeded, shifts are matched by class name, the harness scores them, WiSE-FT's endpoints are exact."
import copy, json
import numpy as np, pandas as pd, pytest, torch
from torch import nn
from ftlearn.data.datasets import load_data
from ftlearn.data.shift import *
from ftlearn.ood import *
from ftlearn.studies.wise_ft import *
from ftlearn.widgets import *

@pytest.fixture(scope='module')
def digits(): return load_data('mnist_subset', n_per_class=3, n_valid=20, n_test=30)

def test_corruption_is_deterministic_per_seed_and_graded(digits, tmp_path, monkeypatch):
    monkeypatch.setenv('FTLEARN_CACHE', str(tmp_path))
    x = digits.x_test
    for kind in CORRUPTIONS:
        a = corrupt(x, kind, 3, seed=0)
        assert a.dtype == np.uint8 and a.shape == x.shape
        np.testing.assert_array_equal(a, corrupt(x, kind, 3, seed=0))                # from the cache
        np.testing.assert_array_equal(a, corrupt(x, kind, 3, seed=0, cache=False))   # recomputed
        d1, d5 = (np.abs(corrupt(x, kind, s).astype(float) - x).mean() for s in (1, 5))
        assert d1 < d5, kind
    assert (corrupt(x, 'gaussian_noise', 3, seed=1) != corrupt(x, 'gaussian_noise', 3, seed=0)).any()
    assert list((tmp_path/'corruptions').glob('*.npy'))
    rgb = np.repeat(x[..., None], 3, -1)
    assert corrupt(rgb, 'jpeg', 2).shape == rgb.shape

@pytest.mark.parametrize('call, msg', [
    (lambda x: corrupt(x, 'fog'), 'unknown corruption'),
    (lambda x: corrupt(x, 'blur', 6), 'severity'),
    (lambda x: corrupt(x.astype(float), 'blur'), 'uint8'),
    (lambda x: load_shift('nowhere'), 'unknown shift'),
    (lambda x: load_shift('blur:2'), 'needs the image DataSplits'),
])
def test_bad_input_is_a_clear_error(digits, call, msg):
    with pytest.raises(ValueError, match=msg): call(digits.x_test)

def test_classes_are_matched_by_name(digits):
    letters = ShiftSet('letters', 'image', ['a', 'b'], digits.x_test[:4], np.array([0, 1, 0, 1]))
    with pytest.raises(ValueError, match=r"does not know: \['a', 'b'\].*mapping"): align_labels(letters, digits.classes)
    assert align_labels(letters, digits.classes, {'a': '3', 'b': '8'}).tolist() == [3, 8, 3, 8]
    rev = ShiftSet('rev', 'image', list('9876543210'), digits.x_test[:3], np.array([0, 9, 4]))
    assert align_labels(rev, digits.classes).tolist() == [9, 0, 5]
    sub = ShiftSet('sub', 'image', ['1', '7'], digits.x_test[:2], np.array([1, 0]))   # fewer classes than the task: fine
    assert align_labels(sub, digits.classes).tolist() == [7, 1]

def test_shifted_task_replaces_only_the_test_split(digits):
    from ftlearn.tasks.core import VisionTask
    task = VisionTask(digits, size=32)
    noisy = load_shift('gaussian_noise:2', digits)
    t = shifted_task(task, noisy)
    assert t.splits.fingerprint('train') == task.splits.fingerprint('train') and t.splits.fingerprint('test') != task.splits.fingerprint('test')
    assert task.splits.x_test is digits.x_test   # the original task is untouched
    with pytest.raises(ValueError, match='holds texts'): shifted_task(task, ShiftSet('t', 'text', ['0'], np.array(['a'], dtype=object), np.array([0])))
    assert list(shift_tasks(task, 'uci_digits, blur:1')) == ['uci_digits', 'blur1']

def nets():
    torch.manual_seed(0)
    make = lambda: nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    m0, m1 = make(), make()
    with torch.no_grad(): m1[1].running_var *= 2; m1[1].num_batches_tracked += 5
    return m0, m1

def test_interpolation_endpoints_are_exact():
    m0, m1 = nets()
    for a, ref in [(0., m0), (1., m1)]:
        for k, v in interpolate(m0, m1, a).state_dict().items():
            want = m1.state_dict()[k] if not v.is_floating_point() else ref.state_dict()[k]
            assert torch.equal(v, want), (a, k)
    mid = interpolate(m0, m1, .25)
    torch.testing.assert_close(mid[2].bias, .75 * m0[2].bias + .25 * m1[2].bias)
    with pytest.raises(ValueError, match='same architecture'): interpolate(m0, nn.Linear(3, 2), .5)
    with pytest.raises(ValueError, match='alpha'): interpolate(m0, m1, 1.5)

def test_recompute_bn_estimates_the_statistics_and_keeps_weights():
    m0, _ = nets()
    x = torch.randn(48, 3) * 2 + 1
    m = recompute_bn(copy.deepcopy(m0), [(x[i:i + 16], None) for i in range(0, 48, 16)], device='cpu')
    torch.testing.assert_close(m[1].running_mean, m0[0](x).mean(0).detach(), atol=1e-5, rtol=1e-5)
    assert m[1].momentum == m0[1].momentum and not m.training
    for k in ('0.weight', '2.weight', '1.weight'): assert torch.equal(m.state_dict()[k], m0.state_dict()[k])

def test_wise_explorer_redraws_from_the_grid():
    rows = [dict(seed=s, alpha=a, bn=bn, accuracy=.9 - .1 * (1 - a), ood_x_accuracy=.5 + .1 * a * (1 - a) + .01 * s)
            for s in (0, 1) for a in (0., .5, 1.) for bn in ('kept', 'recomputed')]
    w = WiseExplorer(pd.DataFrame(rows), bn='kept', alpha=.4)
    assert w.alpha.value == .5 and list(w.accuracies().index) == ['ID', 'x']
    assert np.isclose(w.accuracies(1.)['ID'], .9) and np.isclose(w.accuracies(.5)['x'], .53)
    w.widget(); w.alpha.value = 0.
    assert w.image.value[:4] == b'\x89PNG' and 'a = 0' in w.ax_bar.get_title()

def test_compare_scores_shifts_and_keys_the_cache(digits, tmp_path):
    from ftlearn.compare import compare
    from ftlearn.studies.forgetting import TopTask
    task = TopTask(load_data('mnist_subset', n_per_class=5, n_valid=30, n_test=40), size=32, n_top=1, bs=16)
    df = compare(task, ['linear_probe', 'full_finetune'], steps=3, out=tmp_path, progress=False, lr=3e-4, shifts=['uci_digits'], max_epochs=5, patience=2)
    assert {'ood_uci_digits_accuracy', 'ood_uci_digits_f1', 'ood_uci_digits_cka'} <= set(df.columns)
    assert df.ood_uci_digits_accuracy.between(0, 1).all() and (df.ood_uci_digits_cka <= 1 + 1e-6).all()
    recs = [json.loads(p.read_text()) for p in (tmp_path/'runs').glob('*.json')]
    assert len(recs) == 2 and all('ood_uci_digits_accuracy' in r for r in recs)
    compare(task, ['linear_probe'], out=tmp_path, progress=False, max_epochs=5, patience=2)   # no shifts: another run file
    assert len(list((tmp_path/'runs').glob('*.json'))) == 3
    letters = ShiftSet('letters', 'image', ['a', 'b'], task.splits.x_test[:4], np.array([0, 1, 0, 1]))
    with pytest.raises(ValueError, match='class_map'): compare(task, ['linear_probe'], out=tmp_path, progress=False, shifts=[letters])
    df = compare(task, ['linear_probe'], out=tmp_path, progress=False, shifts=[letters], class_map={'a': '0', 'b': '1'}, max_epochs=5, patience=2)
    assert 'ood_letters_accuracy' in df

def test_cli_ood(tmp_path, capsys):
    from ftlearn.cli import main
    args = ['compare', '--data', 'mnist_subset', '--n-per-class', '5', '--size', '32', '--strategies', 'linear_probe', '--steps', '2',
            '--probe-max-epochs', '5', '--probe-patience', '2', '--out', str(tmp_path)]
    assert main(args + ['--ood', 'uci_digits,contrast:2']) == 0
    out = capsys.readouterr().out
    assert 'ood_uci_digits_accuracy' in out and 'ood_contrast2_accuracy' in out
    assert main(args + ['--ood', 'fog:2']) == 2 and 'unknown shift' in capsys.readouterr().err
    assert main(args + ['--ood', 'uci_digits', '--ood-map', 'a']) == 2 and '--ood-map' in capsys.readouterr().err

def test_every_kind_of_trained_model_is_scored(digits, tmp_path):
    "fastai's vision_learner model (fine_tune) and timm's (full_finetune) on a plain VisionTask."
    from ftlearn.compare import compare
    from ftlearn.tasks.core import VisionTask
    task = VisionTask(load_data('mnist_subset', n_per_class=3, n_valid=20, n_test=30), size=32, bs=16)
    df = compare(task, ['fine_tune', 'full_finetune'], steps=2, out=tmp_path, progress=False, lr=3e-4, shifts='blur:3')
    assert df.ood_blur3_accuracy.between(0, 1).all() and df.ood_blur3_cka.between(-1e-6, 1 + 1e-6).all()

def test_text_shift_tokenises_its_own_test_texts():
    from ftlearn.data.folders import text_frame
    from ftlearn.tasks.core import make_task
    df = pd.DataFrame(dict(text=[f'a fine film number {i}' if i % 2 else f'a dull film number {i}' for i in range(60)],
                           label=['good' if i % 2 else 'bad' for i in range(60)]))
    task = make_task(text_frame(df, valid_pct=.25, test_pct=.25), 'all-MiniLM-L6-v2', max_len=16)
    task.ids('test')
    other = ShiftSet('reviews', 'text', ['good', 'bad'], np.array(['great acting', 'boring plot', 'loved it'], dtype=object), np.array([0, 1, 0]))
    t = shifted_task(task, other)
    assert len(t.ids('test')) == 3 and len(task.ids('test')) == len(task.splits.y_test)
    assert t.splits.y_test.tolist() == [task.splits.classes.index('good'), task.splits.classes.index('bad'), task.splits.classes.index('good')]
    with pytest.raises(ValueError, match='holds images'): shifted_task(task, load_shift('uci_digits', n_test=20))

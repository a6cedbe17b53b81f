"""P5: training the top stage groups on cached activations of the frozen bottom groups vs fastai training the same model.

For each cut (the bottom `cut` of EfficientNet-Lite0's 9 stage groups frozen; cut 9: only the classifier trains), both
sides start from the same weights and seed, draw the same batches and take the same optimiser steps with the same
one-cycle schedule (`fit_steps`); the frozen part's BatchNorm is in eval mode on both sides (`bn='frozen'`,
`train_bn=False`). The reference is fastai training the whole model with `freeze_to(cut)`; the cached side trains
only the suffix (`ftlearn.strategies.top_k.prefix_learner`). The two sides are timed interleaved, A B B A, per cut; the
activations are extracted before (their cost is reported separately, each cut computed from the previous cut's).
Then the whole freeze-depth curve (every k, one seed, fresh cache so extraction counts) is timed against two full
fine-tuning runs (one before, one after the curve).
Usage: python bench/p5_prefix.py [--n-per-class 100] [--size 96] [--epochs 2] [--threads 1]
"""
import argparse, os, sys, tempfile, time, datetime, subprocess
import numpy as np, torch
from fastai.torch_core import set_seed
from ftlearn.core import device_name
from ftlearn.data.datasets import load_data
from ftlearn.models.features import FeatureCache
from ftlearn.tasks.core import make_task
from ftlearn.callback.budget import fit_steps
from ftlearn.strategies.all import run_strategy
from ftlearn.strategies.core import n_params
from ftlearn.strategies.top_k import prefix_learner, frozen_learner, prefix_activations, n_groups, split_model
from ftlearn.studies.freeze_depth import freeze_depth

ap = argparse.ArgumentParser()
ap.add_argument('--n-per-class', type=int, default=100); ap.add_argument('--size', type=int, default=96)
ap.add_argument('--epochs', type=int, default=2); ap.add_argument('--lr', type=float, default=1e-3)
ap.add_argument('--bs', type=int, default=32); ap.add_argument('--seed', type=int, default=0)
ap.add_argument('--threads', type=int, default=1, help='torch threads (the machine is shared: 1 keeps the two sides from fighting another job)')
ap.add_argument('--cuts', default='1,2,3,4,5,6,7,8,9'); ap.add_argument('--no-curve', action='store_true')
ap.add_argument('--out', default=os.path.join(os.path.dirname(__file__), 'results', 'p5_prefix.txt'))
a = ap.parse_args()
torch.set_num_threads(a.threads)
lines = []
def say(*xs):
    s = ' '.join(str(x) for x in xs); print(s, flush=True); lines.append(s)

splits = load_data('fashion_mnist', n_per_class=a.n_per_class, n_valid=200, n_test=500)
task = make_task(splits, 'efficientnet_lite0', size=a.size, bs=a.bs, cache=FeatureCache(tempfile.mkdtemp(prefix='p5_')))
steps = a.epochs * (len(splits.y_train) // a.bs)
try: commit = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], capture_output=True, text=True).stdout.strip()
except OSError: commit = '?'
say(f"P5 frozen-prefix cache vs fastai frozen training -- {datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC, {device_name()}, "
    f"torch threads {a.threads}, git {commit}")
say(f"data: Fashion-MNIST {len(splits.y_train)} train / {len(splits.y_valid)} valid / {len(splits.y_test)} test at {a.size} px; "
    f"EfficientNet-Lite0 (ImageNet weights); bs {a.bs}; {steps} optimiser steps ({a.epochs} epochs); one-cycle lr {a.lr:g}; seed {a.seed}")
say("NOTE: the machine is shared (another long job ran on its 2 cores throughout) and noisy; the two sides were measured")
say("interleaved (A B B A: fastai, cache, cache, fastai) per cut and each time is the mean of its two runs.")
say(f"load average at the start (1, 5, 15 min): {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
say(f"command: python {' '.join(sys.argv)}\n")

def run(use_cache, cut):
    set_seed(a.seed, reproducible=True)
    m = task.model()
    learn = (prefix_learner if use_cache else frozen_learner)(task, m, cut, a.seed)
    t0 = time.perf_counter(); fit_steps(learn, steps, a.lr); t = time.perf_counter() - t0
    if use_cache:
        X, y = learn.cached.data['test']
        with torch.no_grad(): probs = torch.softmax(torch.cat([learn.model.eval()(xb) for xb in X.split(256)]), 1)
    else: probs, y = learn.get_preds(dl=task.test_dl())
    return dict(seconds=t, probs=probs.float(), acc=float((probs.argmax(1) == y).float().mean()),
                state={k: v.detach().clone() for k, v in m.state_dict().items()}, trainable=n_params(learn.model, True))

model0 = task.model()
n = n_groups(model0)
rows = []
say(f"{'cut':>3} {'k':>2} {'trainable':>10} {'extract s':>9} {'fastai s/ep':>11} {'cache s/ep':>10} {'speedup':>7} "
    f"{'acc fastai':>10} {'acc cache':>9} {'max|dw|':>8} {'max|dp|':>8}")
for cut in [int(c) for c in a.cuts.split(',')]:
    t0 = time.perf_counter()
    for s in ('train', 'valid', 'test'): prefix_activations(task, model0, cut, s)
    t_ext = time.perf_counter() - t0
    A1 = run(False, cut); B1 = run(True, cut); B2 = run(True, cut); A2 = run(False, cut)
    tf, tc = (A1['seconds'] + A2['seconds']) / 2 / a.epochs, (B1['seconds'] + B2['seconds']) / 2 / a.epochs
    dw = max(float((A1['state'][k] - B1['state'][k]).abs().max()) for k in A1['state'] if A1['state'][k].is_floating_point())
    dp = float((A1['probs'] - B1['probs']).abs().max())
    assert A1['acc'] == A2['acc'] and B1['acc'] == B2['acc'], 'a side is not reproducible'
    rows.append(dict(cut=cut, k=n - cut, speedup=tf / tc, acc_fastai=A1['acc'], acc_cache=B1['acc'], dw=dw, dp=dp))
    say(f"{cut:>3} {n - cut:>2} {B1['trainable']:>10,} {t_ext:>9.1f} {tf:>11.2f} {tc:>10.2f} {tf / tc:>6.1f}x "
        f"{A1['acc']:>10.3f} {B1['acc']:>9.3f} {dw:>8.1e} {dp:>8.1e}")
say(f"\nmax |test accuracy difference| over cuts: {max(abs(r['acc_fastai'] - r['acc_cache']) for r in rows):.4f} "
    f"(tolerance stated: identical predictions up to float32 rounding; weights within 1e-4)")
two = [r for r in rows if r['k'] == 2]
if two: say(f"speedup at cut {two[0]['cut']} (the last two stage groups train): {two[0]['speedup']:.1f}x (target >= 3x)")
say("extract s: the one pass that fills the cache for this cut (train+valid+test), each cut from the previous cut's entry;")
say("s/ep: training time (fit_steps: the steps plus its validation passes) / epochs; max|dw|: largest weight difference")
say("between the two sides after training; max|dp|: largest difference of a test probability.")

if not a.no_curve:
    say("\nThe whole freeze-depth curve (k = 0 ... 9, one seed, a fresh cache: extraction included) vs two full fine-tuning runs")
    task2 = make_task(splits, 'efficientnet_lite0', size=a.size, bs=a.bs, cache=FeatureCache(tempfile.mkdtemp(prefix='p5c_')))
    t0 = time.perf_counter(); ft1 = run_strategy('full_finetune', task2, steps=steps, lr=a.lr, seed=a.seed); t_ft1 = time.perf_counter() - t0
    t0 = time.perf_counter(); df = freeze_depth(task2, steps=steps, lr=a.lr, seeds=(a.seed,)); t_curve = time.perf_counter() - t0
    t0 = time.perf_counter(); ft2 = run_strategy('full_finetune', task2, steps=steps, lr=a.lr, seed=a.seed); t_ft2 = time.perf_counter() - t0
    say(df[['k', 'cut', 'trainable_params', 'accuracy', 'valid_accuracy', 'seconds', 'used_cache']].to_string(index=False))
    say(f"curve: {t_curve:.1f} s in all (freeze_depth wall time; the first pass over the images and the pooled test features for CKA included)")
    say(f"full fine-tuning: {t_ft1:.1f} s before the curve, {t_ft2:.1f} s after; two runs {t_ft1 + t_ft2:.1f} s; "
        f"curve / two runs = {t_curve / (t_ft1 + t_ft2):.2f} (target < 1); full fine-tuning accuracy {ft1.accuracy:.3f}")
say(f"\nload average at the end (1, 5, 15 min): {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
os.makedirs(os.path.dirname(a.out), exist_ok=True)
with open(a.out, 'w') as f: f.write('\n'.join(lines) + '\n')

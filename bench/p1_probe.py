"""P1: a linear probe on cached features vs fastai training a linear head on a frozen body.

Same data (Fashion-MNIST subset), same backbone (embedded ImageNet EfficientNet-Lite0), same epochs and learning
rate. The fastai side is an honest frozen body: every backbone parameter frozen, BatchNorm kept in eval mode
(`train_bn=False` + `BnFreeze`), only timm's linear classifier trains, but every epoch pays the backbone's forward
pass. Target: >= 20x faster at accuracy within 1 point. Both sides run with each of `--seeds` (same initial head,
same seed for the batch order, same batch size `--bs`: the same number of optimiser steps); times and accuracies are reported per seed and as means.
Usage: python bench/p1_probe.py [--n-per-class 100] [--seeds 0,1,2]
"""
import argparse, json, os, sys, tempfile, time
import torch
from fastai.learner import Learner
from fastai.callback.training import BnFreeze
from fastai.callback.schedule import *
from fastai.losses import CrossEntropyLossFlat
from fastai.metrics import accuracy
from fastai.torch_core import set_seed
from ftlearn.core import device_name
from ftlearn.data.datasets import load_data
from ftlearn.models.features import FeatureCache
from ftlearn.tasks.core import make_task
from ftlearn.strategies.frozen import train_probe

ap = argparse.ArgumentParser()
ap.add_argument('--n-per-class', type=int, default=100); ap.add_argument('--size', type=int, default=96)
ap.add_argument('--epochs', type=int, default=5); ap.add_argument('--lr', type=float, default=1e-2)
ap.add_argument('--seeds', default='0,1,2'); ap.add_argument('--bs', type=int, default=64)
ap.add_argument('--out', default=os.path.join(os.path.dirname(__file__), 'results'))
a = ap.parse_args()

splits = load_data('fashion_mnist', n_per_class=a.n_per_class, n_valid=500, n_test=1000)
task = make_task(splits, 'efficientnet_lite0', size=a.size, bs=a.bs, cache=FeatureCache(tempfile.mkdtemp()))

def test_acc_probe(lin):
    X, y = task.features('test', progress=False)
    with torch.no_grad(): return (lin.cpu()(X).argmax(1) == y).float().mean().item()

t0 = time.perf_counter()
for s in ('train', 'valid', 'test'): task.features(s, progress=False)
t_extract = time.perf_counter() - t0
def run(seed):
    t0 = time.perf_counter(); probe = train_probe(task, a.lr, seed=seed, bs=a.bs, epochs=a.epochs); t_probe = time.perf_counter() - t0
    acc_probe = test_acc_probe(probe.model)
    # fastai: the same linear head trained through a frozen body, forward pass every epoch
    model = task.model()
    set_seed(seed, reproducible=True)  # the same initial head as the probe's (train_probe seeds, then builds nn.Linear)
    with torch.no_grad():
        fresh = torch.nn.Linear(task.meta.feature_dim, task.n_classes)
        task.head(model).weight.copy_(fresh.weight); task.head(model).bias.copy_(fresh.bias)
    for p in model.parameters(): p.requires_grad_(False)
    for p in task.head(model).parameters(): p.requires_grad_(True)
    learn = Learner(task.dls(seed=seed), model, loss_func=CrossEntropyLossFlat(), metrics=accuracy, train_bn=False, cbs=[BnFreeze()])
    learn.recorder.silent = True
    t0 = time.perf_counter()
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(a.epochs, a.lr)
    t_frozen = time.perf_counter() - t0
    probs, y = learn.get_preds(dl=task.test_dl())
    return dict(seed=seed, probe_train_s=round(t_probe, 3), frozen_body_train_s=round(t_frozen, 2), acc_probe=round(acc_probe, 4),
                acc_frozen_body=round((probs.argmax(1) == y).float().mean().item(), 4))

runs = [run(int(s)) for s in a.seeds.split(',')]
mean = lambda k: sum(r[k] for r in runs) / len(runs)
t_probe, t_frozen, acc_probe, acc_frozen = (mean(k) for k in ('probe_train_s', 'frozen_body_train_s', 'acc_probe', 'acc_frozen_body'))

res = dict(benchmark='P1 linear probe on cached features vs fastai linear head on frozen body', device=device_name(),
           n_train=len(splits.y_train), size=a.size, epochs=a.epochs, lr=a.lr, bs=a.bs,
           extract_s=round(t_extract, 2), probe_train_s=round(t_probe, 3), frozen_body_train_s=round(t_frozen, 2),
           speedup_warm_cache=round(t_frozen / t_probe, 1), speedup_incl_extraction=round(t_frozen / (t_probe + t_extract), 2),
           acc_probe=round(acc_probe, 4), acc_frozen_body=round(acc_frozen, 4), acc_gap_points=round(100*(acc_probe-acc_frozen), 2),
           per_seed=runs, note='times and accuracies are means over seeds',
           command=' '.join(['python'] + sys.argv))
print(json.dumps(res, indent=1))
os.makedirs(a.out, exist_ok=True)
with open(os.path.join(a.out, 'p1_probe.json'), 'w') as f: json.dump(res, f, indent=1)

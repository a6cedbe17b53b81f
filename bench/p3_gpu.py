"""P3 (GPU): training throughput of `full_finetune` as ftlearn runs it (bf16 autocast + channels_last on CUDA) vs
fastai's fp32 default, and `ftlearn compare --mode full` (all of Fashion-MNIST at 224 px).

Throughput: the same model, data and batch size, `--n-batches` timed training steps after `--warmup` steps, CUDA
synchronised at both ends. Results go to bench/results/p3_gpu.json (and the comparison's table and plots to
bench/results/p3_compare/).
Usage: python bench/p3_gpu.py [--size 224 --bs 128 --n-batches 100] [--no-compare]
"""
import argparse, json, os, sys, time
import torch
from fastai.callback.core import Callback, CancelFitException
from fastai.learner import Learner
from fastai.losses import CrossEntropyLossFlat
from fastai.metrics import accuracy
from ftlearn.core import device_name
from ftlearn.data.datasets import load_data
from ftlearn.tasks.core import make_task
from ftlearn.strategies.core import make_learner, quiet_learner

ap = argparse.ArgumentParser()
ap.add_argument('--size', type=int, default=224); ap.add_argument('--bs', type=int, default=128)
ap.add_argument('--n-batches', type=int, default=100); ap.add_argument('--warmup', type=int, default=15)
ap.add_argument('--no-compare', action='store_true')
ap.add_argument('--out', default=os.path.join(os.path.dirname(os.path.abspath(__file__)), 'results'))
a = ap.parse_args()
os.makedirs(a.out, exist_ok=True)
res = dict(benchmark='P3 GPU: full_finetune throughput (ftlearn bf16+channels_last vs fastai fp32) and ftlearn compare --mode full',
           device=device_name(), torch=torch.__version__, size=a.size, bs=a.bs, command=' '.join(['python'] + sys.argv))
def save():
    with open(os.path.join(a.out, 'p3_gpu.json'), 'w') as f: json.dump(res, f, indent=1)
    print(json.dumps(res, indent=1))

def sync():
    if torch.cuda.is_available(): torch.cuda.synchronize()

class StepTimer(Callback):
    "Time `n` training steps after `warmup` steps, then stop the fit."
    order = 99
    def __init__(self, warmup, n): self.warmup, self.n, self.i = warmup, n, 0
    def after_step(self):
        self.i += 1
        if self.i == self.warmup: sync(); self.t0 = time.perf_counter()
        if self.i == self.warmup + self.n:
            sync(); self.seconds = time.perf_counter() - self.t0; raise CancelFitException

splits = load_data('fashion_mnist')
task = make_task(splits, 'efficientnet_lite0', size=a.size, bs=a.bs)
def images_per_s(learn):
    t = StepTimer(a.warmup, a.n_batches); learn.add_cb(t)
    learn.fit_one_cycle(1, 1e-3)
    return a.n_batches * a.bs / t.seconds

ours = make_learner(task, task.model(), 'full_finetune', 0, False, None)            # what full_finetune trains with
fp32 = quiet_learner(Learner(task.dls(seed=0), task.model(), loss_func=CrossEntropyLossFlat(), metrics=accuracy, splitter=task.splitter))
res['precision_ftlearn'] = ours.precision
res['images_per_s'] = {'fastai fp32 default': round(images_per_s(fp32), 1), f'ftlearn {ours.precision}': round(images_per_s(ours), 1)}
v = list(res['images_per_s'].values()); res['speedup'] = round(v[1] / v[0], 2)
save()

if not a.no_compare:
    import pandas as pd
    from ftlearn.cli import main
    out = os.path.join(a.out, 'p3_compare'); t0 = time.perf_counter()
    rc = main(['compare', '--mode', 'full', '--out', out])
    res['compare_full'] = dict(command='ftlearn compare --mode full', rc=rc, wall_s=round(time.perf_counter() - t0, 1),
                               n_train=len(splits.y_train), table=pd.read_csv(os.path.join(out, 'results.csv')).to_dict('records') if rc == 0 else None)
    save()

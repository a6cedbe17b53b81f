"""Every vision strategy and every forgetting cure, a few steps each, on whatever device torch finds (bf16 autocast and
channels_last on CUDA): the GPU-only code paths that the CPU tests cannot reach. Data from packages only (MNIST subset,
UCI digits), so it needs nothing carried but the wheels. Writes a table (strategy/cure, status, accuracy, seconds, error).
Usage: python bench/gpu_smoke.py [--out bench/results/gpu_smoke.csv] [--steps 20]
"""
import argparse, time, traceback, warnings
import pandas as pd, torch
from ftlearn.core import device_name
from ftlearn.data.datasets import load_data
from ftlearn.tasks.core import make_task
from ftlearn.compare import compare
from ftlearn.strategies.all import strategy_order
from ftlearn.studies.forgetting import TopTask, train_first, train_second, CURES

ap = argparse.ArgumentParser()
ap.add_argument('--out', default='bench/results/gpu_smoke.csv'); ap.add_argument('--steps', type=int, default=20)
ap.add_argument('--size', type=int, default=64)
a = ap.parse_args()
warnings.filterwarnings('ignore')
rows = []
def attempt(kind, name, f):
    t = time.perf_counter()
    try: acc, status, err = f(), 'ok', ''
    except Exception as e: acc, status, err = float('nan'), 'failed', ' | '.join(f'{f.filename.split("/")[-1]}:{f.lineno} {f.name}' for f in traceback.extract_tb(e.__traceback__)[-4:]) + ' | ' + ''.join(traceback.format_exception_only(e)).strip()[-300:]
    rows.append(dict(kind=kind, name=name, status=status, accuracy=round(acc, 3), seconds=round(time.perf_counter() - t, 2), error=err))
    print(rows[-1], flush=True)

sp = load_data('mnist_subset', n_per_class=20, n_valid=100, n_test=200)
task = make_task(sp, 'efficientnet_lite0', size=a.size, bs=32)
for s in strategy_order():
    attempt('strategy', s, lambda: float(compare(task, [s], seeds=(0,), steps=a.steps, out=f'/tmp/gpu_smoke_runs',
                                               progress=False, raise_errors=True, lr=None)['accuracy'].iloc[0]))
try:   # distribution shift (ftlearn.ood, ftlearn.studies.wise_ft): OOD columns and WiSE-FT, on the device
    from ftlearn.studies.wise_ft import wise_ft
    shifts = ['uci_digits', 'gaussian_noise:3']
    for s in ['linear_probe', 'full_finetune', 'lp_ft', 'top_k', 'lora']:
        attempt('ood', s, lambda: float(compare(task, [s], seeds=(0,), steps=a.steps, out='/tmp/gpu_smoke_ood', progress=False,
                                                 raise_errors=True, shifts=shifts, lr=None)['ood_gaussian_noise3_accuracy'].iloc[0]))
    attempt('ood', 'wise_ft', lambda: float(wise_ft(task, seed=0, steps=a.steps, lr=1e-3, alphas=(0., .5, 1.), shifts=shifts)[0]
                                            .query("bn == 'recomputed'")['ood_gaussian_noise3_accuracy'].iloc[1]))
except ImportError: pass
ta = TopTask(load_data('mnist_subset', n_per_class=20, n_valid=100, n_test=200), size=a.size, n_top=2, bs=32)
tb = TopTask(load_data('uci_digits', n_per_class=20, n_valid=100, n_test=200), size=a.size, n_top=2, bs=32)
first = train_first(ta, a.steps, 1e-3)
opts = dict(l2sp=dict(lam=0.1), ewc=dict(lam=100., n_fisher=50), lwf=dict(lam=1., T=2.), replay=dict(per_class=5, share=0.25))
for c in CURES:
    attempt('cure', c, lambda: float(train_second(first, ta, tb, c, a.steps, 1e-3, **opts.get(c, {}))['b_accuracy']))
df = pd.DataFrame(rows).assign(device=device_name(), torch=torch.__version__, steps=a.steps, size=a.size)
df.to_csv(a.out, index=False)
print(df.drop(columns=['error']).to_string()); print(f"{(df.status == 'ok').sum()} of {len(df)} ran on {device_name()}")

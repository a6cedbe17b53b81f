"""LP-FT's default peak rate, chosen by measurement: at which rates does LP-FT collapse on the embedded data sets?

    python bench/lp_ft_rate.py [--seeds 0 1] [--steps 40] [--out bench/results/lp_ft_rate.csv]

LP-FT starts from a converged linear probe, whose logits are large; a fine-tuning rate too high for them wipes the
probe out and the run ends at chance (issue 22: 'collapsed'). For each embedded data set (three image sets through
EfficientNet-Lite0, one text set through MiniLM), each rate and seed, this runs `lp_ft` through `run_strategy` and
records whether it finished ('ok'), collapsed or diverged, its validation and test accuracy, and the probe's
logit scale (the mean of each example's largest minus smallest logit on the training features), a likely cause.
"""
import argparse, os, time
os.environ.setdefault('FTLEARN_OFFLINE', '1'); os.environ.setdefault('HF_HUB_OFFLINE', '1')
import warnings; warnings.filterwarnings('ignore')
import numpy as np, pandas as pd, torch
from ftlearn.core import device_name
from ftlearn.data.datasets import load_data
from ftlearn.tasks.core import make_task
from ftlearn.callback.guard import TrainingDiverged, TrainingCollapsed
from ftlearn.strategies.all import run_strategy, default_lr
from ftlearn.strategies.frozen import train_probe

SETS = [('uci_digits', 'efficientnet_lite0'), ('mnist_subset', 'efficientnet_lite0'), ('fashion_mnist', 'efficientnet_lite0'),
        ('rotten_tomatoes', 'all-MiniLM-L6-v2')]

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1])
    p.add_argument('--steps', type=int, default=40)
    p.add_argument('--rates', type=float, nargs='+', default=[3e-3, 1e-3, 3e-4, 1e-4, 3e-5])
    p.add_argument('--n-per-class', type=int, default=30)
    p.add_argument('--out', default='bench/results/lp_ft_rate.csv')
    a = p.parse_args()
    rows = []
    for name, backbone in SETS:
        sp = load_data(name, n_per_class=a.n_per_class if name != 'rotten_tomatoes' else 5 * a.n_per_class, n_valid=100, n_test=200)
        kw = dict(size=64, bs=32) if backbone.startswith('eff') else dict(max_len=64, bs=16)
        task = make_task(sp, backbone, **kw)
        for seed in a.seeds:
            probe = train_probe(task, default_lr(task, 'linear_probe'), None, seed)
            X = task.features('train')[0]
            with torch.no_grad(): z = probe.model.cpu()(X)
            scale = float((z.max(1).values - z.min(1).values).mean())
            for lr in a.rates:
                t0 = time.perf_counter()
                try: r = run_strategy('lp_ft', task, steps=a.steps, lr=lr, seed=seed); status, va, te = 'ok', r.valid_accuracy, r.accuracy
                except TrainingCollapsed: status, va, te = 'collapsed', np.nan, np.nan
                except TrainingDiverged: status, va, te = 'diverged', np.nan, np.nan
                rows.append(dict(data=name, backbone=backbone, seed=seed, lr=lr, status=status, valid_accuracy=va, accuracy=te,
                                 probe_logit_range=round(scale, 2), seconds=round(time.perf_counter() - t0, 1)))
                print(rows[-1], flush=True)
    df = pd.DataFrame(rows)
    df.to_csv(a.out, index=False)
    s = df.groupby(['data', 'lr']).agg(ok=('status', lambda x: f"{(x == 'ok').sum()}/{len(x)}"), valid=('valid_accuracy', 'mean'),
                                        test=('accuracy', 'mean'))
    print(f'\n{device_name()}, {a.steps} steps, seeds {a.seeds}\n' + s.to_string(float_format=lambda x: f'{x:.3f}'))

if __name__ == '__main__': main()

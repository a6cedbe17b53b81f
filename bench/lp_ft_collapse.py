"""Why does LP-FT collapse at a rate where plain fine-tuning trains? A measurement of the probe-logits explanation.

    python bench/lp_ft_collapse.py [--seeds 0 1 2] [--steps 40] [--rates 1e-3 3e-3] [--out bench/results/lp_ft_collapse]

LP-FT starts fine-tuning from a converged linear probe. A converged probe's weights are large (its logits span
10-20 nats on the training features, bench/results/lp_ft_rate.txt), and the gradient that reaches the body is the
head's weights times the error, so the first steps at a given rate push the body much harder than fine-tuning from a
fresh, small random head does. If that is why LP-FT collapses, then the same probe with its weights scaled down to a
random head's norm (same directions, so the same predictions at the start) should stop collapsing, and the body's
gradient norm at the start should be what separates them. Three starts, the same body, rates, budget and seeds:

- `probe`: LP-FT as `ftlearn.strategies.finetune.lp_ft` does it (the probe's weights and bias copied into the head);
- `probe, scaled`: the same probe, its weights and bias multiplied by ||random head|| / ||probe head||;
- `random head`: the network's own fresh head (what `full_finetune` starts from).

Per run: the body's gradient norm on the first validation batch before any step, the head's weight norm, the
logit range on the training features, and the outcome (ok, collapsed or diverged, with validation and test
accuracy). Writes OUT.csv and OUT.txt.
"""
import argparse, os, time
os.environ.setdefault('FTLEARN_OFFLINE', '1'); os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')
import warnings; warnings.filterwarnings('ignore')
import numpy as np, pandas as pd, torch
from fastai.torch_core import set_seed
from ftlearn.core import device_name
from ftlearn.data.datasets import load_data
from ftlearn.tasks.core import make_task
from ftlearn.callback.budget import fit_steps
from ftlearn.callback.guard import TrainingDiverged, TrainingCollapsed, check_diverged
from ftlearn.strategies.core import make_learner, peak_lrs, finish_run
from ftlearn.strategies.frozen import train_probe, probe_valid_accuracy

STARTS = ('probe', 'probe, scaled', 'random head')


def body_grad_norm(learn, task):
    "The gradient norm of every parameter but the head's, for the first validation batch, before any step (no state changes)."
    model, head = learn.model, {id(p) for p in task.head(learn.model).parameters()}
    was = model.training; model.eval()
    xb, yb = learn.dls.valid.one_batch()   # the validation loader does not shuffle: the training order is untouched
    model.zero_grad(); learn.loss_func(model(xb), yb).backward()
    g = torch.sqrt(sum((p.grad.float() ** 2).sum() for p in model.parameters() if p.grad is not None and id(p) not in head))
    model.zero_grad(); model.train(was)
    return float(g)


def one_run(task, probe, start, lr, seed, steps):
    "One LP-FT run from `start`, `probe` being the converged probe of this `seed` (trained once, shared by every start and rate)."
    set_seed(seed, reproducible=True)
    model = task.model()
    head = task.head(model)
    rand_norm = float(torch.cat([head.weight.flatten(), head.bias.flatten()]).norm())
    if start != 'random head':
        w, b = probe.model.weight.detach().cpu(), probe.model.bias.detach().cpu()
        s = rand_norm / float(torch.cat([w.flatten(), b.flatten()]).norm()) if start == 'probe, scaled' else 1.0
        with torch.no_grad(): head.weight.copy_(w * s); head.bias.copy_(b * s)
    X = task.features('train')[0]
    with torch.no_grad(): z = torch.nn.functional.linear(X, head.weight.detach().cpu(), head.bias.detach().cpu())
    rec = dict(start=start, lr=lr, seed=seed, head_norm=round(float(torch.cat([head.weight.flatten(), head.bias.flatten()]).norm()), 3),
               logit_range=round(float((z.max(1).values - z.min(1).values).mean()), 2))
    learn = make_learner(task, model, 'lp_ft', seed, False, None, bn='frozen')
    learn.unfreeze()
    rec['body_grad_norm'] = round(body_grad_norm(learn, task), 4)
    t0 = time.perf_counter()
    try:
        fit_steps(learn, steps, peak_lrs(len(learn.opt.param_groups), lr))
        check_diverged(learn, task, 'lp_ft', lr, start=probe_valid_accuracy(probe) if start != 'random head' else None)
        r = finish_run(learn, task, 'lp_ft', seed, steps, lr)
        rec.update(status='ok', valid_accuracy=r.valid_accuracy, accuracy=r.accuracy)
    except TrainingCollapsed: rec.update(status='collapsed')
    except TrainingDiverged: rec.update(status='diverged')
    rec['seconds'] = round(time.perf_counter() - t0, 1)
    return rec


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--data', nargs='+', default=['fashion_mnist', 'uci_digits'])
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    p.add_argument('--steps', type=int, default=40)
    p.add_argument('--rates', type=float, nargs='+', default=[1e-3, 3e-3])
    p.add_argument('--n-per-class', type=int, default=30)
    p.add_argument('--size', type=int, default=64)
    p.add_argument('--out', default='bench/results/lp_ft_collapse')
    a = p.parse_args()
    rows = []
    for name in a.data:
        task = make_task(load_data(name, n_per_class=a.n_per_class, n_valid=100, n_test=200), 'efficientnet_lite0', size=a.size, bs=32)
        probes = {seed: train_probe(task, 1e-3, None, seed) for seed in a.seeds}   # seeded: the same probe each time it is trained
        for lr in a.rates:
            for seed in a.seeds:
                for start in STARTS:
                    rows.append(dict(data=name, **one_run(task, probes[seed], start, lr, seed, a.steps)))
                    print(rows[-1], flush=True)
    df = pd.DataFrame(rows)
    df.to_csv(a.out + '.csv', index=False)
    s = df.groupby(['data', 'lr', 'start'], sort=False).agg(
        ok=('status', lambda x: f"{(x == 'ok').sum()}/{len(x)}"), head_norm=('head_norm', 'mean'), logit_range=('logit_range', 'mean'),
        body_grad_norm=('body_grad_norm', 'mean'), valid=('valid_accuracy', 'mean'), test=('accuracy', 'mean'))
    head = (f"# bench/lp_ft_collapse.py: {device_name()}, {time.strftime('%Y-%m-%d')}, EfficientNet-Lite0, {a.n_per_class} images per class, "
            f"{a.size} px, batch 32, {a.steps} optimiser steps (one-cycle), BatchNorm frozen, seeds {a.seeds}.\n"
            "# ok: runs that finished (the rest collapsed to chance or diverged); body_grad_norm: the body's gradient norm on the first "
            "validation batch before any step; valid/test: mean over the runs that finished.\n")
    text = head + s.to_string(float_format=lambda x: f'{x:.3f}')
    open(a.out + '.txt', 'w').write(text + '\n')
    print('\n' + text)


if __name__ == '__main__': main()

"""Sequential tasks on text: fine-tune all-MiniLM-L6-v2 on A (fortune topics), then on B (Rotten Tomatoes fresh/rotten), with
each cure of `ftlearn.callback.regularise`; A's test accuracy through A's own head before and after B (task-incremental).
Same protocol as lesson 5: one step budget, A's and B's peak rates chosen on validation (seed 0, plain fine-tuning),
fixed cure strengths, >= 3 seeds, differences called only beyond the seeds' spread.
Writes bench/results/text_forgetting.csv (runs) and .txt (summary). Usage: python bench/text_forgetting.py [--steps 30 --n-per-class 16 --bs 8]
"""
import argparse, os, time, warnings
import pandas as pd
from ftlearn.core import device_name
from ftlearn.data.datasets import load_data
from ftlearn.tasks.core import make_task
from ftlearn.studies.forgetting import train_first, train_second, lr_on_validation, forgetting_summary, CURES

ap = argparse.ArgumentParser()
ap.add_argument('--steps', type=int, default=30); ap.add_argument('--n-per-class', type=int, default=16)
ap.add_argument('--seeds', default='0,1,2'); ap.add_argument('--bs', type=int, default=8)
ap.add_argument('--out', default=os.path.join(os.path.dirname(os.path.abspath(__file__)), 'results', 'text_forgetting'))
a = ap.parse_args()
warnings.filterwarnings('ignore')
seeds = [int(s) for s in a.seeds.split(',')]
t0 = time.perf_counter()
ta = make_task(load_data('fortunes', n_per_class=a.n_per_class, n_valid=80, n_test=200), 'minilm', bs=a.bs)
tb = make_task(load_data('rotten_tomatoes', n_per_class=a.n_per_class, n_valid=80, n_test=200), 'minilm', bs=a.bs)
RATES = (1e-4, 3e-4, 1e-3)
lr_a, sa = lr_on_validation(lambda r: train_first(ta, a.steps, r, seed=0), RATES)
first0 = train_first(ta, a.steps, lr_a, seed=0)
lr_b, sb = lr_on_validation(lambda r: train_second(first0, ta, tb, 'none', a.steps, r), RATES, key='b_valid_accuracy')
print(f"A's rate {lr_a:g} {sa}; B's rate {lr_b:g} {sb}", flush=True)
OPTS = dict(l2sp=dict(lam=0.1), ewc=dict(lam=100., fisher='empirical', n_fisher=100), lwf=dict(lam=1., T=2.), replay=dict(per_class=8, share=0.25))
runs = []
for seed in seeds:
    first = train_first(ta, a.steps, lr_a, seed)
    for cure in CURES:
        r = train_second(first, ta, tb, cure, a.steps, lr_b, **OPTS.get(cure, {})); r.pop('model', None); runs.append(r)
        print({k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items() if k in ('cure', 'seed', 'a_before', 'a_after', 'b_accuracy', 'seconds')}, flush=True)
runs = pd.DataFrame(runs)
summary = forgetting_summary(runs)
head = (f"text forgetting on {device_name()}: all-MiniLM-L6-v2, A = fortunes ({ta.n_classes} topics), B = rotten_tomatoes, "
        f"{a.n_per_class} per class, {a.steps} steps, batch {a.bs}, seeds {seeds}; rates on validation: A {lr_a:g} {sa}, B {lr_b:g} {sb}; "
        f"cure strengths {OPTS}; {time.perf_counter() - t0:.0f} s")
os.makedirs(os.path.dirname(a.out), exist_ok=True)
runs.to_csv(a.out + '.csv', index=False)
with open(a.out + '.txt', 'w') as f: f.write(head + '\n\n' + summary.round(3).to_string() + '\n')
print(head); print(summary.round(3).to_string())

"""P2: the whole default comparison vs `full_finetune` alone plus one feature-extraction pass.

Both measured in one run on a cold feature cache, side by side, twice (A B B A). Target: ratio <= 1.2x.
Usage: python bench/p2_compare.py [--n-per-class 100 --size 96 --epochs 3] [--strategies default]
"""
import argparse, json, os, sys, tempfile, time
from ftlearn.core import device_name
from ftlearn.data.datasets import load_data
from ftlearn.models.features import FeatureCache
from ftlearn.tasks.core import make_task
from ftlearn.strategies.all import run_strategy
from ftlearn.compare import compare, _strategies

ap = argparse.ArgumentParser()
ap.add_argument('--n-per-class', type=int, default=100); ap.add_argument('--size', type=int, default=96)
ap.add_argument('--epochs', type=int, default=3); ap.add_argument('--strategies', default='default')
ap.add_argument('--out', default=os.path.join(os.path.dirname(__file__), 'results'))
a = ap.parse_args()
splits = load_data('fashion_mnist', n_per_class=a.n_per_class, n_valid=500, n_test=1000)

def task(): return make_task(splits, 'efficientnet_lite0', size=a.size, bs=64, cache=FeatureCache(tempfile.mkdtemp()))

def comparison():
    t0 = time.perf_counter()
    df = compare(task(), a.strategies, seeds=[0], epochs=a.epochs, out=tempfile.mkdtemp(), progress=False, lr=None)
    return time.perf_counter() - t0, df

def baseline():
    t = task(); t0 = time.perf_counter()
    for s in ('train', 'valid', 'test'): t.features(s, progress=False)
    t_extract = time.perf_counter() - t0
    t0 = time.perf_counter(); run_strategy('full_finetune', t, epochs=a.epochs, seed=0)
    return t_extract, time.perf_counter() - t0

# A B B A: whichever goes first also pays the process's warm-up (first model load, thread pools), so each side
# goes first once; the ratio is of the sums.
t_all1, df = comparison(); e1, f1 = baseline(); e2, f2 = baseline(); t_all2, _ = comparison()
t_all, t_extract, t_ft = (t_all1 + t_all2) / 2, (e1 + e2) / 2, (f1 + f2) / 2
res = dict(benchmark='P2 default comparison vs full_finetune + one extraction pass', device=device_name(),
           strategies=_strategies(a.strategies), n_train=len(splits.y_train), size=a.size, epochs=a.epochs,
           comparison_s=round(t_all, 1), full_finetune_s=round(t_ft, 1), extraction_s=round(t_extract, 1),
           ratio=round(t_all / (t_ft + t_extract), 3),
           per_rep=dict(comparison_s=[round(t_all1, 1), round(t_all2, 1)], baseline_s=[round(e1 + f1, 1), round(e2 + f2, 1)]),
           note='means of two repetitions in A B B A order',
           accuracy={row.strategy: round(row.accuracy, 4) for row in df.itertuples()}, command=' '.join(['python'] + sys.argv))
print(json.dumps(res, indent=1))
os.makedirs(a.out, exist_ok=True)
with open(os.path.join(a.out, 'p2_compare.json'), 'w') as f: json.dump(res, f, indent=1)

"""P2: the whole default comparison vs `full_finetune` alone plus one feature-extraction pass.

Both measured in one run on a cold feature cache, side by side. Target: ratio <= 1.2x.
Usage: python bench/p2_compare.py [--n-per-class 100 --size 96 --epochs 3] [--strategies default]
"""
import argparse, json, os, sys, tempfile, time
from ftlearn.core import device_name
from ftlearn.data import load_data
from ftlearn.features import FeatureCache
from ftlearn.tasks import make_task
from ftlearn.strategies import run_strategy
from ftlearn.compare import compare, _strategies

ap = argparse.ArgumentParser()
ap.add_argument('--n-per-class', type=int, default=100); ap.add_argument('--size', type=int, default=96)
ap.add_argument('--epochs', type=int, default=3); ap.add_argument('--strategies', default='default')
ap.add_argument('--out', default=os.path.join(os.path.dirname(__file__), 'results'))
a = ap.parse_args()
splits = load_data('fashion_mnist', n_per_class=a.n_per_class, n_valid=500, n_test=1000)

def task(): return make_task(splits, 'efficientnet_lite0', size=a.size, bs=64, cache=FeatureCache(tempfile.mkdtemp()))

t0 = time.perf_counter()
df = compare(task(), a.strategies, seeds=[0], epochs=a.epochs, out=tempfile.mkdtemp(), progress=False)
t_all = time.perf_counter() - t0

t = task(); t0 = time.perf_counter()
for s in ('train', 'valid', 'test'): t.features(s, progress=False)
t_extract = time.perf_counter() - t0
t0 = time.perf_counter(); r = run_strategy('full_finetune', t, epochs=a.epochs, seed=0); t_ft = time.perf_counter() - t0

res = dict(benchmark='P2 default comparison vs full_finetune + one extraction pass', device=device_name(),
           strategies=_strategies(a.strategies), n_train=len(splits.y_train), size=a.size, epochs=a.epochs,
           comparison_s=round(t_all, 1), full_finetune_s=round(t_ft, 1), extraction_s=round(t_extract, 1),
           ratio=round(t_all / (t_ft + t_extract), 3),
           accuracy={row.strategy: round(row.accuracy, 4) for row in df.itertuples()}, command=' '.join(['python'] + sys.argv))
print(json.dumps(res, indent=1))
os.makedirs(a.out, exist_ok=True)
with open(os.path.join(a.out, 'p2_compare.json'), 'w') as f: json.dump(res, f, indent=1)

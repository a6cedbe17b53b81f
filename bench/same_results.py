"""Record comparisons whose numbers must not change when the code is only moved (issue 21: the house in rooms).

    python bench/same_results.py record DIR    # write DIR/<name>.csv for each comparison below
    python bench/same_results.py check A B     # compare two such folders column by column, bit for bit

Each comparison runs in a fresh feature cache and run folder. Columns that measure the machine (seconds, memory,
device) or name a run folder are left out; every number that training produced is kept, to the last bit (written
with 17 significant digits). Run it once before a refactor and once after, on the same machine.
"""
import os, sys, json, tempfile, importlib
os.environ.setdefault('FTLEARN_OFFLINE', '1'); os.environ.setdefault('HF_HUB_OFFLINE', '1')
os.environ.setdefault('FTLEARN_MODE', 'small')
from pathlib import Path
import numpy as np, pandas as pd

MACHINE = ['seconds', 'peak_mem_mb', 'device', 'run', 'best_model']

def _first(*paths):
    "The first importable attribute among 'module:name' paths (the names moved between the layouts)."
    for p in paths:
        mod, name = p.split(':')
        try: return getattr(importlib.import_module(mod), name)
        except (ImportError, AttributeError): continue
    raise ImportError(paths)

def _clean(df):
    df = df.drop(columns=[c for c in MACHINE if c in df], errors='ignore').copy()
    for c in df:
        if df[c].map(lambda v: isinstance(v, (list, dict, tuple))).any(): df[c] = df[c].map(lambda v: json.dumps(v, sort_keys=True, default=float))
    return df

def comparisons(tmp):
    load_data = _first('ftlearn.data.datasets:load_data', 'ftlearn.data:load_data')
    make_task = _first('ftlearn.tasks.core:make_task', 'ftlearn.tasks:make_task')
    compare = _first('ftlearn.compare:compare')
    out = lambda n: str(Path(tmp)/n)
    # 1. the README's main job: `ftlearn compare` on the embedded default (small mode), through the command line
    main = _first('ftlearn.cli:main')
    assert main(['compare', '--out', out('readme')]) == 0
    yield 'readme_default', pd.read_csv(Path(out('readme'))/'results.csv')
    # 2. every image strategy, two seeds, a fixed small budget (rates chosen on validation for two of them)
    img = make_task(load_data('uci_digits', n_per_class=6, n_valid=40, n_test=60), 'efficientnet_lite0', size=32, bs=16)
    yield 'image_all', compare(img, 'all', seeds=[0, 1], steps=9, out=out("img"), progress=False, lr=None)
    yield 'image_auto', compare(img, ['fine_tune', 'lp_ft', 'pixel_logreg'], seeds=[0], steps=8, lr='auto', out=out('img_auto'), progress=False)
    # 3. text: MiniLM on Rotten Tomatoes, frozen and trained strategies and the TF-IDF baseline
    txt = make_task(load_data('rotten_tomatoes', n_per_class=20, n_valid=40, n_test=60), 'all-MiniLM-L6-v2', bs=16, max_len=32)
    yield 'text', compare(txt, ['feature_extraction', 'linear_probe', 'full_finetune', 'lora', 'bitfit', 'top_k', 'tfidf_logreg'],
                          seeds=[0], steps=6, out=out('txt'), progress=False, lr=None)
    # 4. distribution shift: OOD columns on another digit source and a corruption
    sh = make_task(load_data('mnist_subset', n_per_class=6, n_valid=40, n_test=60), 'efficientnet_lite0', size=32, bs=16)
    yield 'shift', compare(sh, ['linear_probe', 'lp_ft', 'top_k'], seeds=[0], steps=6, out=out('shift'), progress=False, lr=None,
                           shifts='opencv_digits,gaussian_noise:3')
    # 5. forgetting: A then B under each cure, on cached lower stages
    TopTask = _first('ftlearn.studies.forgetting:TopTask', 'ftlearn.forgetting:TopTask')
    sequential_runs = _first('ftlearn.studies.forgetting:sequential_runs', 'ftlearn.forgetting:sequential_runs')
    ta = TopTask(load_data('fashion_mnist', n_per_class=4, n_valid=20, n_test=30), size=32, n_top=1, bs=10)
    tb = TopTask(load_data('uci_digits', n_per_class=4, n_valid=20, n_test=30), size=32, n_top=1, bs=10)
    runs, probes, drift = sequential_runs(ta, tb, seeds=[0], steps=6, lr_a=1e-3, lr_b=1e-3, probe_tasks={'B': tb})
    yield 'forgetting_runs', runs
    yield 'forgetting_probes', probes
    yield 'forgetting_drift', drift

def record(folder):
    folder = Path(folder); folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ['FTLEARN_CACHE'] = str(Path(tmp)/'cache')
        for name, df in comparisons(tmp):
            _clean(df).to_csv(folder/f'{name}.csv', index=False, float_format='%.17g')
            print(f'{name}: {len(df)} rows', flush=True)

def check(a, b):
    a, b, bad = Path(a), Path(b), 0
    for f in sorted(a.glob('*.csv')):
        x, y = pd.read_csv(f), pd.read_csv(b/f.name)
        same = list(x.columns) == list(y.columns) and x.shape == y.shape and x.equals(y)
        print(f"{f.stem}: {'identical' if same else 'DIFFERENT'} ({x.shape[0]} rows x {x.shape[1]} columns)")
        if not same:
            bad += 1
            for c in x.columns:
                if c not in y or not x[c].equals(y[c]): print(f'   column {c!r} differs')
    return bad

if __name__ == '__main__':
    cmd, *args = sys.argv[1:]
    if cmd == 'record': record(*args)
    else: sys.exit(1 if check(*args) else 0)

"""Count what bad and edge-case inputs do on this checkout: clear error / handled / deep / silent / hang.

Runs the fuzz cases of tests/test_fuzz_*.py (the same lists the test suite asserts) and classifies each outcome
(tests/fuzzlib.py `outcome`). To measure another version of the library, put its checkout first on the path:

    .venv/bin/python bench/fuzz.py --lib /path/to/old/checkout --label before
    .venv/bin/python bench/fuzz.py --label after

Writes bench/results/fuzz_<label>.csv (one row per case; `checked`: the case checks the result it returns, as every
'ok' case must) and prints the counts by outcome and area, and how many 'ok' cases check their result."""
import argparse, importlib.util, os, sys, tempfile, time
from pathlib import Path
for k in ('FTLEARN_OFFLINE', 'HF_HUB_OFFLINE', 'TRANSFORMERS_OFFLINE'): os.environ.setdefault(k, '1')
os.environ.setdefault('FTLEARN_MODE', 'small')
import warnings; warnings.filterwarnings('ignore', module='torch|fastai|sklearn|timm|transformers')
here = Path(__file__).resolve().parent
if '--lib' in sys.argv:   # import ftlearn from another checkout: the editable install's finder would win over sys.path
    lib = sys.argv[sys.argv.index('--lib') + 1]
    sys.meta_path[:] = [f for f in sys.meta_path if 'editable' not in getattr(f, '__name__', type(f).__name__).lower()]
    sys.path.insert(0, lib)
sys.path.insert(1, str(here.parent/'tests'))
import pandas as pd
from fuzzlib import outcome

def cases(files):
    for f in files:
        spec = importlib.util.spec_from_file_location(f.stem, f); m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
        for c in m.CASES: yield f.stem.replace('test_fuzz_', ''), c

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--label', default='after'); p.add_argument('--lib', help='checkout to import ftlearn from'); p.add_argument('--timeout', type=int, default=180)
    p.add_argument('files', nargs='*', type=Path, default=sorted((here.parent/'tests').glob('test_fuzz_*.py')))
    a = p.parse_args()
    import ftlearn; print(f"ftlearn from {Path(ftlearn.__file__).parent}", flush=True)
    rows = []
    for file, c in cases(a.files):
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter(); kind, detail = outcome(c, Path(tmp), a.timeout)
        rows.append(dict(file=file, area=c.area, case=c.id, expect=c.expect, outcome=kind, seconds=round(time.perf_counter() - t0, 1), detail=detail,
                         checked=getattr(c, 'check', None) is not None))
        print(f"{kind:8s} {file}/{c.id}: {detail[:110]}", flush=True)
    df = pd.DataFrame(rows)
    (here/'results').mkdir(exist_ok=True); df.to_csv(here/'results'/f'fuzz_{a.label}.csv', index=False)
    order = ['clear', 'handled', 'deep', 'silent', 'hang']
    print(f"\n{a.label}: {len(df)} cases")
    print(df.outcome.value_counts().reindex(order, fill_value=0).to_string())
    print(pd.crosstab(df.area, df.outcome).reindex(columns=order, fill_value=0).to_string())
    ok = df[df.expect == 'ok']
    print(f"\n'ok' cases that check their result: {int(ok.checked.sum())} of {len(ok)}")

"""Lesson 7's advisor grid, condensed: each condition's signals measured on the splits its runs used, and the summary shipped with the package.

    python bench/reference.py 07-fashion_mnist 07-mnist_subset ... --scale cpu   # the runs (resumable)
    python bench/advisor_grid.py                                                  # signals + ftlearn/advisor_grid.json

The signals of a condition are written to `course/reference/07-<data set>/<scale>/signals.jsonl` beside its runs (so a
rerun measures only the new ones); the summary (`ftlearn.advise.grid_summary`: every condition's strategies with
their mean, spread, shortfall from the best and cost, the signals, and each reference's provenance) goes to
`ftlearn/advisor_grid.json`, which `ftlearn.advise.advise` reads by default.
"""
import argparse, json, os, sys, time
from pathlib import Path

os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')
os.environ.setdefault('FTLEARN_OFFLINE', '1')
ROOT = Path(__file__).resolve().parents[1]


def main(scale=None, out=None):
    import pandas as pd
    from ftlearn.advise import load_grid, grid_signals, grid_table, grid_summary, GRID_PREFIX
    runs = load_grid(ROOT/'course'/'reference', scale)
    frames = []
    for d, prov in runs.attrs['provenance'].items():
        f = Path(prov['folder'])/'signals.jsonl'
        have = pd.read_json(f, lines=True) if f.exists() else pd.DataFrame(columns=['n_per_class'])
        sizes = sorted(runs[runs.data == d].n_per_class.unique())
        todo = [n for n in sizes if n not in set(have.n_per_class)]
        if todo:
            t0 = time.time()
            sub = runs[(runs.data == d) & runs.n_per_class.isin(todo)].copy(); sub.attrs['provenance'] = {d: prov}
            new = grid_signals(sub)
            have = pd.concat([have, new], ignore_index=True) if len(have) else new
            f.write_text(have.to_json(orient='records', lines=True))
            print(f"{GRID_PREFIX}{d}: signals of {todo} per class measured in {time.time() - t0:.0f} s", flush=True)
        frames.append(have[have.n_per_class.isin(sizes)].assign(data=d))
    signals = pd.concat(frames, ignore_index=True)
    table = grid_table(runs)
    p = grid_summary(table, signals, runs.attrs['provenance'], out)
    print(f"{len(table.groupby(['data', 'n_per_class']))} conditions, {len(table)} rows -> {p}")
    print(signals[['data', 'n_per_class', 'probe_score', 'head_entropy', 'bn_shift']].round(3).to_string(index=False))


if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--scale', default=None, help='the references of this scale (default: the preferred recorded one)')
    ap.add_argument('--out', default=None, help='where the summary goes (default: ftlearn/advisor_grid.json)')
    a = ap.parse_args()
    main(a.scale, a.out)

"""`compare(workers=2)` against the serial grid on this machine: the same table, and how much faster, side by side in one run.

    python bench/workers.py            # about 6 minutes on a 2-core CPU; writes bench/results/workers.json
    python bench/workers.py --smoke    # a rehearsal in a minute

One grid (three trained strategies x three seeds, each strategy's rate chosen on validation with the first seed, so the
other seeds wait for it) runs three ways from empty run folders (after an untimed warm-up that caches the features
and loads the libraries), in this order: serially with every core's thread
(torch's default), on two Dask worker processes with one thread each (`compare(workers=2)`), and serially with one
thread (what one worker alone would do). The two-worker table must be bit-identical to the one-thread serial
table (accuracy, validation accuracy, rate: a worker runs one thread, and a different thread count sums floating-point
numbers in another order); the wall times give the speed-up. Run it with the machine otherwise idle.
"""
import argparse, json, os, platform, tempfile, time
from pathlib import Path

os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')
os.environ.setdefault('FTLEARN_OFFLINE', '1')
ROOT = Path(__file__).resolve().parents[1]


def main(smoke=False):
    import torch, pandas as pd
    from ftlearn.core import device_name
    from ftlearn.data.datasets import load_data
    from ftlearn.tasks.core import make_task
    from ftlearn.compare import compare
    cfg = dict(n_per_class=5, steps=6, strategies=['full_finetune', 'lora'], seeds=[0, 1]) if smoke else \
          dict(n_per_class=20, steps=60, strategies=['full_finetune', 'lora', 'lp_ft'], seeds=[0, 1, 2])
    sp = load_data('fashion_mnist', n_per_class=cfg['n_per_class'], n_valid=100, n_test=500, seed=0)
    task = make_task(sp, 'efficientnet_lite0', size=32, bs=16)
    kw = dict(seeds=cfg['seeds'], steps=cfg['steps'], lr='auto', lr_grid=(1/3, 1, 3), bn='frozen', progress=False)
    cores = os.cpu_count()
    for split in ('train', 'valid', 'test'): task.features(split)   # warm: the features (cached on disk, shared by the workers), imports, files
    compare(task, cfg['strategies'][:1], seeds=[0], steps=2, lr=1e-3, bn='frozen', progress=False, out=tempfile.mkdtemp(prefix='ftlearn_warm_'))
    results, tables = {}, {}
    for name, threads, workers in [(f'serial, {cores} threads', cores, None), ('2 workers, 1 thread each', 1, 2), ('serial, 1 thread', 1, None)]:
        torch.set_num_threads(threads)
        out = tempfile.mkdtemp(prefix='ftlearn_workers_')
        t0 = time.perf_counter()
        df = compare(task, cfg['strategies'], out=out, workers=workers, **kw)
        results[name] = round(time.perf_counter() - t0, 1)
        tables[name] = df.sort_values(['strategy', 'seed'])[['strategy', 'seed', 'lr', 'accuracy', 'valid_accuracy']].reset_index(drop=True)
        runs = len(list(Path(out, 'runs').glob('*.json')))
        print(f"{name}: {results[name]} s, {len(df)} rows, {runs} run records", flush=True)
    base = tables['serial, 1 thread']   # a worker runs one thread: the same arithmetic as a one-thread serial run
    same = {n: bool(t.equals(base)) for n, t in tables.items() if n != 'serial, 1 thread'}
    diff = (tables[f'serial, {cores} threads'].accuracy - base.accuracy).abs().max()   # more threads sum in another order
    par = results['2 workers, 1 thread each']
    doc = dict(device=device_name(), cores=cores, python=platform.python_version(), torch=torch.__version__, smoke=smoke,
               date=time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime()), grid=cfg, seconds=results, identical_to_serial_one_thread=same, max_accuracy_difference_threads=float(diff),
               speedup_vs_serial_all_threads=round(results[f'serial, {cores} threads'] / par, 2),
               speedup_vs_serial_one_thread=round(results['serial, 1 thread'] / par, 2))
    print(json.dumps(doc, indent=1))
    if not same['2 workers, 1 thread each']: raise SystemExit('the two-worker table differs from the serial one')
    out = ROOT/'bench'/'results'/('workers_smoke.json' if smoke else 'workers.json')
    out.write_text(json.dumps(doc, indent=1) + '\n')
    print('->', out)


if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--smoke', action='store_true')
    main(ap.parse_args().smoke)

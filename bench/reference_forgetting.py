"""Lesson 5's reference run: task A (Fashion-MNIST), then task B (MNIST digits), under each cure; recorded in the repo.

    python bench/reference_forgetting.py --scale cpu --budget 40 --threads 1   # make or resume course/reference/05/cpu
    python bench/reference_forgetting.py --scale tiny --out /tmp/ref05          # a rehearsal in a minute or two

Lesson 5's question does not go through `ftlearn.compare.compare` (one model per seed trains on A, then on B under each
cure), so `bench/reference.py` cannot make it; this script asks it through `ftlearn.studies.forgetting` under the same
protocol as the lesson: A's and B's peak rates chosen on seed 0's validation data (`lr_on_validation`), each cure's
strength chosen on seed 0's validation data by `stability_plasticity` (`strength_on_validation`), then
`sequential_runs` for every seed: forgetting of A, B's accuracy, probes of the features on other tasks and their drift.

Records (in `course/reference/05/SCALE/`, or `OUT/05` with `--out`):
- `results.jsonl`: one row per (cure, seed) run: a_before, a_after, forgetting, b_accuracy, lr, steps, seconds, ...
- `probes.jsonl`: a logistic-regression probe's test accuracy on each other task, per model (pretrained, after A, after B: cure) and seed
- `drift.jsonl`: linear CKA to the pretrained network per trained stage, per model and seed
- `control.jsonl`: replay's equal-compute control, plain fine-tuning on B with batches as large as replay's, per seed
- `choices.json`: the rates and strengths chosen on validation, with every value's validation score
- `provenance.json`: device, versions, commit, date, exact settings, wall time (the keys `bench/reference.py` writes)
Every seed's rows are written as soon as it finishes; a second call reads the choices and the finished seeds back and
runs only what is missing (until `--budget` minutes are spent).

Scales: `cpu` is the medium scale (64 px, 150 images per class, the top 2 stages trained on cached activations of
the frozen lower ones, 250 steps, 3 seeds; about half an hour on one CPU thread); `tiny` only rehearses the script.
"""
import argparse, json, os, platform, subprocess, sys, time
from pathlib import Path

os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')
os.environ.setdefault('FTLEARN_OFFLINE', '1')
ROOT = Path(__file__).resolve().parents[1]
LESSON = '05'
QUESTION = ("Fine-tuning on task B after task A: how much of A is forgotten, what does each cure (L2-SP, EWC, LwF, replay) "
            "buy back and at what cost on B, and are the general features kept (probes on other tasks)?")
SCALES = {
    'cpu': dict(size=64, n_top=2, bs=32, steps=250, n_per_class=150, n_valid=500, n_test=1000,
                probes=dict(uci_digits=dict(n_per_class=50, n_valid=200, n_test=500), faces=dict(n_per_class=50, n_valid=40, n_test=60)),
                lr_rates=(3e-4, 1e-3, 3e-3), n_fisher=200, per_class=10,
                strengths=dict(l2sp=(0.01, 0.1, 1.), ewc=(10., 100., 1000., 10000.), lwf=(0.3, 1., 3.), replay=(0.1, 0.25, 0.5))),
    'tiny': dict(size=32, n_top=1, bs=16, steps=8, n_per_class=12, n_valid=40, n_test=60,
                 probes=dict(uci_digits=dict(n_per_class=5, n_valid=30, n_test=50), faces=dict(n_per_class=20, n_valid=20, n_test=40)),
                 lr_rates=(1e-3, 3e-3), n_fisher=40, per_class=2,
                 strengths=dict(l2sp=(0.1, 1.), ewc=(100., 1000.), lwf=(1., 3.), replay=(0.25, 0.5))),
}
DATA = dict(a='fashion_mnist', b='mnist_subset')
BACKBONE = 'efficientnet_lite0'
SEEDS = (0, 1, 2)
STAGES = ('blocks.4', 'blocks.5', 'blocks.6', 'bn2')   # drift measured where these are trained (the rest is frozen: CKA 1)


def git(*args):
    try: return subprocess.run(['git', *args], cwd=ROOT, capture_output=True, text=True, timeout=20).stdout.strip()
    except Exception: return ''


def tasks(s):
    "A, B and the probe tasks at settings `s`: `TopTask`s (the lower stages frozen, their activations cached)."
    from ftlearn.data.datasets import load_data
    from ftlearn.studies.forgetting import TopTask
    kw = dict(backbone=BACKBONE, size=s['size'], n_top=s['n_top'], bs=s['bs'])
    sets = dict(n_per_class=s['n_per_class'], n_valid=s['n_valid'], n_test=s['n_test'], seed=0)
    a, b = [TopTask(load_data(DATA[k], **sets), **kw) for k in 'ab']
    probes = {n: TopTask(load_data(n, seed=0, **pk), **kw) for n, pk in s['probes'].items()}
    return a, b, probes


def provenance(scale, s, wall, done, todo, extra):
    import torch, fastai, timm, sklearn
    from ftlearn.core import device_name
    return dict(question=QUESTION, scale=scale, device=device_name(), torch=torch.__version__,
                cuda=torch.version.cuda if torch.cuda.is_available() else None, fastai=fastai.__version__, timm=timm.__version__,
                sklearn=sklearn.__version__, python=platform.python_version(), threads=torch.get_num_threads(),
                commit=git('rev-parse', 'HEAD'), dirty=bool(git('status', '--porcelain', '--', 'ftlearn')),
                date=time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime()), seeds=list(SEEDS), settings=s, data=DATA, backbone=BACKBONE,
                wall_seconds=round(wall), jobs_done=done, jobs_missing=todo, **extra)


def read_jsonl(p):
    import pandas as pd
    return pd.read_json(p, lines=True, dtype=False) if p.exists() and p.stat().st_size else pd.DataFrame()


def write_jsonl(p, df):
    p.write_text(df.to_json(orient='records', lines=True, default_handler=str))


def run(scale, budget_min, out=None):
    import numpy as np, pandas as pd
    from types import SimpleNamespace
    from ftlearn.studies.forgetting import (CURES, STRENGTH_PARAM, lr_on_validation, train_first, train_second, strength_on_validation,
                                            sequential_runs)
    from ftlearn.callback.regularise import Replay
    from ftlearn.studies.forgetting import TopTask
    s = SCALES[scale]
    out = Path(out)/LESSON if out else ROOT/'course'/'reference'/LESSON/scale
    out.mkdir(parents=True, exist_ok=True)
    paths = {k: out/f'{k}.jsonl' for k in ('results', 'probes', 'drift')}
    prov_path, choice_path = out/'provenance.json', out/'choices.json'
    old = json.loads(prov_path.read_text()) if prov_path.exists() else {}
    if old and old.get('settings') != json.loads(json.dumps(s)):
        raise SystemExit(f"{out} holds runs made with other settings: remove it (or write elsewhere with --out) to start again")
    wall0, t0 = old.get('wall_seconds', 0), time.time()
    log = lambda m: print(f"[{time.strftime('%H:%M:%S')}] 05/{scale}: {m}", flush=True)
    task_a, task_b, probe_tasks = tasks(s)
    n_a = len(task_a.splits.y_train)
    mem = s['per_class'] * task_a.n_classes
    extra = dict(n_train=dict(a=n_a, b=len(task_b.splits.y_train), **{n: len(t.splits.y_train) for n, t in probe_tasks.items()}),
                 n_test=dict(a=len(task_a.splits.y_test), b=len(task_b.splits.y_test), **{n: len(t.splits.y_test) for n, t in probe_tasks.items()}),
                 fingerprints={n: [t.splits.fingerprint(x) for x in ('train', 'valid', 'test')]
                               for n, t in {'a': task_a, 'b': task_b, **probe_tasks}.items()},
                 replay_memory=dict(per_class=s['per_class'], items=mem, share_of_a=mem / n_a,
                                    how="added to each batch of B (the batch of B and the step count stay; a share s adds "
                                        "round(bs*s/(1-s)) memory items per step, scored by A's head)"))
    save = lambda done, todo, ch: prov_path.write_text(json.dumps(provenance(scale, s, wall0 + time.time() - t0, done, todo, dict(extra, choices=ch)), indent=1))

    # 1. the rates and strengths, chosen on seed 0's validation data (kept in choices.json: a resumed run reuses them)
    if choice_path.exists(): ch = json.loads(choice_path.read_text()); log('choices read back')
    else:
        log(f"A: {n_a} training images, choosing A's rate among {s['lr_rates']}")
        lr_a, sc_a = lr_on_validation(lambda r: train_first(task_a, s['steps'], r, seed=0), s['lr_rates'])
        first0 = train_first(task_a, s['steps'], lr_a, seed=0)
        log(f"A's rate {lr_a:g} ({sc_a}); choosing B's")
        lr_b, sc_b = lr_on_validation(lambda r: train_second(first0, task_a, task_b, 'none', s['steps'], r), s['lr_rates'], key='b_valid_accuracy')
        log(f"B's rate {lr_b:g} ({sc_b})")
        base = dict(l2sp={}, ewc=dict(fisher='empirical', n_fisher=s['n_fisher']), lwf=dict(T=2.), replay=dict(per_class=s['per_class']))
        strengths = {}
        for c, values in s['strengths'].items():
            v, scores = strength_on_validation(first0, task_a, task_b, c, values, s['steps'], lr_b, **base[c])
            strengths[c] = dict(param=STRENGTH_PARAM[c], value=v, scores={str(k): x for k, x in scores.items()}, grid=list(values),
                                at_edge=v in (min(values), max(values)))
            log(f"{c}: {STRENGTH_PARAM[c]}={v:g} ({scores})")
        ch = dict(lr_a=lr_a, lr_a_scores={str(k): v for k, v in sc_a.items()}, lr_b=lr_b, lr_b_scores={str(k): v for k, v in sc_b.items()},
                  lr_grid=list(s['lr_rates']), base_opts=base, strengths=strengths)
        choice_path.write_text(json.dumps(ch, indent=1))
        save(['choices'], [f'seed {x}' for x in SEEDS], ch)
    cure_opts = {c: {**ch['base_opts'][c], d['param']: d['value']} for c, d in ch['strengths'].items()}

    # 2. A then B under each cure, one seed at a time; each seed's rows written as soon as it finishes
    frames = {k: read_jsonl(p) for k, p in paths.items()}
    done = sorted(set(frames['results'].seed)) if len(frames['results']) else []
    stages = [x for x in STAGES if x in dict(task_a.model().named_modules())]
    todo = []
    for seed in SEEDS:
        if seed in done: continue
        if time.time() - t0 > 60 * budget_min: todo.append(f'seed {seed}'); continue
        log(f"seed {seed}: A, then B under {', '.join(CURES)}")
        runs, probes, drift = sequential_runs(task_a, task_b, [seed], s['steps'], ch['lr_a'], ch['lr_b'], CURES, cure_opts, probe_tasks, stages=stages)
        if len(frames['probes']) and (frames['probes'].model == 'pretrained').any(): probes = probes[probes.model != 'pretrained']
        runs = runs.assign(n_train_a=n_a, n_train_b=len(task_b.splits.y_train), n_test_a=len(task_a.splits.y_test),
                           n_test_b=len(task_b.splits.y_test), items_per_step=[s['bs'] + (Replay.n_memory(SimpleNamespace(share=cure_opts['replay']['share']), s['bs'])
                                                                                            if c == 'replay' else 0) for c in runs.cure])
        for k, df in zip(('results', 'probes', 'drift'), (runs, probes, drift)):
            frames[k] = pd.concat([frames[k], df], ignore_index=True); write_jsonl(paths[k], frames[k])
        done.append(seed)
        log('\n' + runs[['cure', 'seed', 'a_before', 'a_after', 'forgetting', 'b_accuracy', 'seconds']].round(3).to_string())
        save(['choices'] + [f'seed {x}' for x in done], todo + [f'seed {x}' for x in SEEDS if x not in done and f'seed {x}' not in todo], ch)
    todo = [f'seed {x}' for x in SEEDS if x not in done]

    # 3. replay's equal-compute control: plain fine-tuning on B with batches as large as replay's (B's batch + the memory items)
    ctrl_path = out/'control.jsonl'
    control = read_jsonl(ctrl_path)
    n_mem = Replay.n_memory(SimpleNamespace(share=cure_opts['replay']['share']), s['bs'])
    for seed in SEEDS:
        if len(control) and seed in set(control.seed): continue
        if todo or time.time() - t0 > 60 * budget_min: todo.append(f'control seed {seed}'); continue
        log(f"control, seed {seed}: plain fine-tuning on B at batch {s['bs'] + n_mem} (replay's items per step)")
        big_b = TopTask(task_b.splits, backbone=BACKBONE, size=s['size'], n_top=s['n_top'], bs=s['bs'] + n_mem)
        r = train_second(train_first(task_a, s['steps'], ch['lr_a'], seed), task_a, big_b, 'none', s['steps'], ch['lr_b'])
        r.pop('model')
        control = pd.concat([control, pd.DataFrame([dict(r, cure='none, replay-sized batch', items_per_step=s['bs'] + n_mem)])], ignore_index=True)
        write_jsonl(ctrl_path, control)
    done_all = ['choices'] + [f'seed {x}' for x in sorted(done)] + ([f'control seed {x}' for x in sorted(set(control.seed))] if len(control) else [])
    save(done_all, todo, ch)
    r = frames['results']
    if len(r): log('\n' + r.groupby('cure', sort=False)[['a_after', 'forgetting', 'b_accuracy', 'seconds']].agg(['mean', 'std']).round(3).to_string())
    log(f"{len(done)} of {len(SEEDS)} seeds done ({time.time() - t0:.0f} s this call) -> {out}")
    return not todo


if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--scale', default='cpu', choices=list(SCALES))
    ap.add_argument('--budget', type=float, default=40, help='minutes: no new seed starts after this (finished seeds are kept either way)')
    ap.add_argument('--threads', type=int, default=None, help='torch CPU threads')
    ap.add_argument('--out', default=None, help='write to OUT/05 instead of course/reference/05/SCALE')
    a = ap.parse_args()
    if a.threads:
        import torch; torch.set_num_threads(a.threads)
    sys.exit(0 if run(a.scale, a.budget, a.out) else 3)

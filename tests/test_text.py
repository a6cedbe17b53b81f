"The text track: every strategy on text, frozen encoder, cached embeddings, splitter, tokenizer edge cases (offline)."
import os
for k in ('FTLEARN_OFFLINE', 'HF_HUB_OFFLINE', 'TRANSFORMERS_OFFLINE'): os.environ.setdefault(k, '1')
import numpy as np, pytest, torch
from torch import nn
from ftlearn.data.datasets import load_data
from ftlearn.data.folders import text_frame
from ftlearn.models.features import FeatureCache, extract_features, model_fingerprint
from ftlearn.tasks.core import make_task
from ftlearn.strategies.all import run_strategy, STRATEGIES
from ftlearn.strategies.core import make_learner
from ftlearn.strategies.finetune import frozen_state
from ftlearn.tasks.text import TextTask, TextClassifier, tokenize, pad_batch
from ftlearn.strategies.baselines import tfidf_baseline

@pytest.fixture(scope='module')
def task(tmp_path_factory):
    rt = load_data('rotten_tomatoes', n_per_class=8, n_valid=12, n_test=16)
    return make_task(rt, 'all-MiniLM-L6-v2', max_len=32, bs=8, cache=FeatureCache(tmp_path_factory.mktemp('features')))


@pytest.mark.parametrize('name', [s for s in STRATEGIES if 'text' in STRATEGIES[s].kinds])
def test_every_strategy_runs_on_text(task, name):
    r = run_strategy(name, task, steps=8, seed=0)   # gradual unfreezing needs one step per stage (8 groups)
    assert r.probs.shape == (16, 2) and np.allclose(r.probs.sum(1), 1, atol=1e-4)
    assert (r.y == task.splits.y_test).all()
    assert 0 < r.trainable_params <= r.total_params

def test_lwf_on_text_is_a_clear_error(task):
    with pytest.raises(ValueError, match='has none'): run_strategy('lwf', task, steps=2)

def test_trainable_params_are_honest(task):
    lp, ff = run_strategy('linear_probe', task, epochs=1), run_strategy('full_finetune', task, epochs=1)
    assert lp.trainable_params == 384 * 2 + 2
    assert ff.trainable_params == ff.total_params == sum(p.numel() for p in task.model().parameters())

def test_probe_leaves_encoder_untouched(task):
    fp = model_fingerprint(task.feature_model())
    run_strategy('linear_probe', task, epochs=3)
    run_strategy('lp_ft', task, epochs=1)        # trains its own copy, never the feature model
    assert model_fingerprint(task.feature_model()) == fp

def test_frozen_layers_stay_frozen(task):
    "First step of gradual unfreezing: only the head trains; every encoder weight, LayerNorms included, is unchanged."
    learn = make_learner(task, task.model(), 'test', 0, False, None, train_bn=False, bn_freeze=True)
    learn.create_opt(); learn.freeze_to(-1)
    groups = task.splitter(learn.model)
    before = frozen_state(learn.model, groups[:-1])
    head_before = [p.detach().clone() for p in groups[-1]]
    learn.fit_one_cycle(1, 1e-3)
    after = frozen_state(learn.model, groups[:-1])
    assert all(torch.equal(a, b) for a, b in zip(before[0], after[0]))
    assert not all(torch.equal(a, b) for a, b in zip(head_before, groups[-1]))

def test_cached_embeddings_equal_fresh(task):
    X1, y1 = task.features('valid')
    X2, y2 = extract_features(task.feature_model(), task.split_dl('valid'), task.pooled, 'cpu', progress=False)
    torch.testing.assert_close(X1, X2, rtol=1e-4, atol=1e-5); assert torch.equal(y1, y2)
    assert torch.equal(X1, task.features('valid')[0])
    again = TextTask(task.splits, max_len=32, bs=8, cache=FeatureCache(task.cache.folder))  # what a new process would see
    assert torch.equal(X1, again.features('valid')[0])

def test_cache_key_changes_with_max_len(task):
    other = TextTask(task.splits, max_len=8, bs=8, cache=task.cache)
    assert other.transform_key() != task.transform_key()
    assert not torch.allclose(other.features('valid')[0], task.features('valid')[0])

def test_head_sees_the_probe_features(task):
    "head(model)(pooled features) == model(x): what LP-FT relies on, for the classifier and the bare encoder."
    model = task.model().eval()
    xb, _ = task.test_dl().one_batch()
    with torch.no_grad():
        torch.testing.assert_close(task.head(model)(task.pooled(model, xb)), model(xb))
        torch.testing.assert_close(task.pooled(model, xb), task.pooled(task.feature_model().cpu(), xb), rtol=1e-4, atol=1e-5)

def test_splitter_covers_every_parameter_once(task):
    model = task.model()
    groups = task.splitter(model)
    ids = [id(p) for g in groups for p in g]
    assert len(groups) == 8 and len(ids) == len(set(ids)) == len(list(model.parameters()))
    assert set(ids) == {id(p) for p in model.parameters()}
    assert {id(p) for p in groups[-1]} == {id(p) for p in model.classifier.parameters()}
    assert {id(p) for p in groups[0]} == {id(p) for p in model.encoder.embeddings.parameters()}

def test_dynamic_padding(task):
    xb, yb = next(iter(task.dls(seed=0).train))
    assert xb.shape[1] == 2 and xb.shape[2] <= 32
    assert (xb[:, 1].sum(1) == xb.shape[2]).any()          # padded to the batch's longest, not to max_len
    assert ((xb[:, 0] == task.pad_id) | (xb[:, 1] == 1)).all()

def test_tokenizer_edge_cases(task):
    ids = tokenize(task.tokenizer, ['', 'word ' * 1000, 'naïve café — 東京 🙂', None], max_len=24)
    assert [len(i) for i in ids][:2] == [2, 24] and all(2 <= len(i) <= 24 for i in ids)
    assert ids[1][-1] == task.tokenizer.sep_token_id       # truncated, still closed by [SEP]
    assert task.tokenizer.unk_token_id not in ids[2][1:3]   # accented Latin is not unknown
    x, y = pad_batch(list(zip(ids, [0, 1, 0, 1])))
    with torch.no_grad(): out = task.model().eval()(x)
    assert out.shape == (4, 2) and torch.isfinite(out).all()

def test_user_csv_with_bad_bytes(tmp_path):
    p = tmp_path/'reviews.csv'
    p.write_bytes(b'text,label\n' + b''.join(b'loved it \xff\xfe %d,good\nhated it %d,bad\n' % (i, i) for i in range(12)))
    d = text_frame(p)
    t = make_task(d, 'all-MiniLM-L6-v2', max_len=16)
    assert isinstance(t, TextTask) and t.n_classes == 2
    assert len(t.ids('train')) == len(d.y_train)
    assert any('\ufffd' in s for s in d.x_train)            # bad bytes became the replacement character

def test_wrong_modality_is_a_clear_error():
    with pytest.raises(ValueError, match='text backbone|image backbone'):
        make_task(load_data('uci_digits', n_per_class=3), 'all-MiniLM-L6-v2')

def test_tfidf_baseline():
    d = load_data('fortunes', n_per_class=100, n_test=200)
    b = tfidf_baseline(d)
    assert b['accuracy'] > 1 / d.n_classes + 0.1  # far better than chance on the topics
    assert b['probs'].shape == (len(d.y_test), d.n_classes) and b['trainable_params'] > 0

def test_cli_compare_on_text(tmp_path):
    from ftlearn.cli import main
    assert main(['compare', '--data', 'rotten_tomatoes', '--backbone', 'all-MiniLM-L6-v2', '--strategies', 'linear_probe',
                 '--n-per-class', '4', '--epochs', '1', '--out', str(tmp_path)]) == 0
    assert (tmp_path/'results.csv').exists()

def test_max_len_is_checked(task):
    "max_len past the encoder's 512 positions used to fail deep inside transformers; 0, floats and bools were taken."
    with pytest.raises(ValueError, match=r'max_len <= 512'): TextTask(task.splits, max_len=600)
    for bad in (0, 2, 16.0, True, float('nan')):
        with pytest.raises(ValueError, match='max_len must be a whole number >= 3'): TextTask(task.splits, max_len=bad)
    assert TextTask(task.splits, max_len=np.int64(512)).max_len == 512
    with pytest.raises(ValueError, match=r'max_len <= 512'): tokenize(task.tokenizer, ['a'], max_len=10_000)
    with pytest.raises(TypeError, match='list of strings'): tokenize(task.tokenizer, 'one review', max_len=16)

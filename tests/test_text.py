"The text track: every strategy on text, frozen encoder, cached embeddings, tokenizer edge cases (offline)."
import numpy as np, pandas as pd, pytest, torch
from ftlearn.data import load_data, text_frame
from ftlearn.features import FeatureCache, extract_features, model_fingerprint
from ftlearn.tasks import make_task
from ftlearn.strategies import run_strategy, STRATEGIES
from ftlearn.text import TextTask, tokenize, pad_batch, tfidf_baseline

@pytest.fixture(scope='module')
def task(tmp_path_factory):
    rt = load_data('rotten_tomatoes', n_per_class=6, n_valid=12, n_test=16)
    return make_task(rt, 'all-MiniLM-L6-v2', max_len=24, bs=8, cache=FeatureCache(tmp_path_factory.mktemp('features')))

@pytest.mark.parametrize('name', list(STRATEGIES))
def test_every_strategy_runs_on_text(task, name):
    r = run_strategy(name, task, epochs=1, seed=0)
    assert r.probs.shape == (16, 2) and np.allclose(r.probs.sum(1), 1, atol=1e-4)
    assert (r.y == task.splits.y_test).all()

def test_probe_leaves_encoder_untouched(task):
    fp = model_fingerprint(task.feature_model())
    run_strategy('linear_probe', task, epochs=3)
    assert model_fingerprint(task.feature_model()) == fp

def test_cached_embeddings_equal_fresh(task):
    X1, _ = task.features('valid')
    X2, _ = extract_features(task.feature_model(), task.split_dl('valid'), task.pooled, 'cpu', progress=False)
    torch.testing.assert_close(X1, X2, rtol=1e-4, atol=1e-5)
    assert torch.equal(X1, task.features('valid')[0])

def test_gradual_unfreeze_freezes_layers(task):
    "In the first step only the head trains: the encoder is bit-for-bit unchanged."
    from ftlearn.strategies import _learner, frozen_state
    learn = _learner(task, task.model(), 'test', 0, False, None, train_bn=False, bn_freeze=True)
    learn.create_opt(); learn.freeze_to(-1)
    groups = task.splitter(learn.model)
    assert len(groups) == 8
    before = frozen_state(learn.model, groups[:-1])
    learn.fit_one_cycle(1, 1e-3)
    after = frozen_state(learn.model, groups[:-1])
    assert all(torch.equal(a, b) for a, b in zip(before[0], after[0]))

def test_tokenizer_edge_cases(task):
    ids = tokenize(task.tokenizer, ['', 'word ' * 1000, 'naïve café — 東京 🙂', None], max_len=24)
    assert [len(i) for i in ids][:2] == [2, 24] and all(2 <= len(i) <= 24 for i in ids)
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

def test_wrong_modality_is_a_clear_error():
    with pytest.raises(ValueError, match='text backbone|image backbone'):
        make_task(load_data('uci_digits', n_per_class=3), 'all-MiniLM-L6-v2')

def test_tfidf_baseline():
    d = load_data('fortunes', n_per_class=100, n_test=200)
    b = tfidf_baseline(d)
    assert b['accuracy'] > 1 / d.n_classes + 0.1  # far better than chance on 4 topics

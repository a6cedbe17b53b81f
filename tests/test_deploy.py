"Kept models: saved then loaded predictions equal the run's in-memory ones (images and text), predict on files, the CLI's keep -> predict."
import os, stat, warnings
for k in ('FTLEARN_OFFLINE', 'HF_HUB_OFFLINE', 'TRANSFORMERS_OFFLINE'): os.environ.setdefault(k, '1')
import numpy as np, pandas as pd, pytest
from pathlib import Path
from PIL import Image
from ftlearn.data.datasets import load_data
from ftlearn.models.features import FeatureCache
from ftlearn.tasks.core import make_task
from ftlearn.strategies.all import run_strategy
from ftlearn.deploy import save_model, load_model, predict, MODEL_FILE
from ftlearn.cli import main

@pytest.fixture(scope='module')
def image_task(tmp_path_factory):
    sp = load_data('fashion_mnist', n_per_class=6, n_valid=30, n_test=40)
    return make_task(sp, 'efficientnet_lite0', size=32, bs=32, cache=FeatureCache(tmp_path_factory.mktemp('features')))

@pytest.fixture(scope='module')
def text_task(tmp_path_factory):
    rt = load_data('rotten_tomatoes', n_per_class=8, n_valid=12, n_test=16)
    return make_task(rt, 'all-MiniLM-L6-v2', max_len=32, bs=8, cache=FeatureCache(tmp_path_factory.mktemp('features')))

@pytest.mark.parametrize('name,opts,fmt', [('full_finetune', {}, 'timm'), ('fine_tune', {}, 'fastai_timm'), ('scratch', {}, 'timm'), ('top_k', {}, 'timm'),
                                           ('linear_probe', {}, 'frozen_linear'), ('feature_extraction', {}, 'frozen_sklearn'),
                                           ('feature_extraction', dict(classifier='svm'), 'frozen_sklearn')])
def test_saved_image_model_equals_in_memory(image_task, tmp_path, name, opts, fmt):
    r = run_strategy(name, image_task, steps=2, **opts)
    m = load_model(save_model(r, image_task, tmp_path/'m'))
    assert m.info['format'] == fmt and m.classes == list(image_task.splits.classes)
    assert m.info['preprocessing'] == dict(kind='image', read_size=28, size=32, mean=[0.5] * 3, std=[0.5] * 3,
                                           resize='PIL bilinear to read_size, then antialiased bilinear to size')
    np.testing.assert_allclose(m.probs(image_task.splits.x_test), r.probs, atol=1e-5)
    assert m.info['metrics']['test_accuracy'] == pytest.approx(r.accuracy)

@pytest.mark.parametrize('name', ['full_finetune', 'linear_probe', 'feature_extraction'])
def test_saved_text_model_equals_in_memory(text_task, tmp_path, name):
    r = run_strategy(name, text_task, steps=2)
    m = load_model(save_model(r, text_task, tmp_path/'m'))
    assert m.info['preprocessing']['max_len'] == 32
    np.testing.assert_allclose(m.probs(text_task.splits.x_test), r.probs, atol=1e-5)
    if name == 'full_finetune':   # the encoder folder is a plain transformers model
        from transformers import AutoModel
        assert AutoModel.from_pretrained(tmp_path/'m'/'encoder').config.hidden_size == 384

def test_predict_on_image_files(image_task, tmp_path):
    r = run_strategy('linear_probe', image_task)
    save_model(r, image_task, tmp_path/'m')
    x = image_task.splits.x_test[:5]
    (tmp_path/'new'/'deeper').mkdir(parents=True)
    for i, im in enumerate(x): Image.fromarray(im).save(tmp_path/'new'/('deeper' if i == 3 else '.')/f'{i}.png')
    (tmp_path/'new'/'readme.md').write_text('x')
    df = predict(tmp_path/'m', tmp_path/'new')
    order = [int(Path(p).stem) for p in df.item]
    np.testing.assert_allclose(df[image_task.splits.classes].values, r.probs[order], atol=1e-5)
    assert (df.prediction.values == np.array(image_task.splits.classes)[r.probs[order].argmax(1)]).all()

def test_predict_on_text_files(text_task, tmp_path):
    r = run_strategy('linear_probe', text_task)
    save_model(r, text_task, tmp_path/'m')
    texts = list(text_task.splits.x_test[:4])
    pd.DataFrame(dict(id=range(4), review=texts)).to_csv(tmp_path/'a.csv', index=False)
    (tmp_path/'b.txt').write_text('\n'.join(texts) + '\n\n')
    a = predict(tmp_path/'m', tmp_path/'a.csv', text_col='review')
    b = predict(tmp_path/'m', [tmp_path/'b.txt'])
    np.testing.assert_allclose(a[text_task.splits.classes].values, r.probs[:4], atol=1e-5)
    np.testing.assert_allclose(b[text_task.splits.classes].values, r.probs[:4], atol=1e-5)
    assert list(b.item) == ['b.txt:1', 'b.txt:2', 'b.txt:3', 'b.txt:4']
    with pytest.raises(ValueError, match="no column 'text'"): predict(tmp_path/'m', tmp_path/'a.csv')

def _folder(root, n=8):
    sp = load_data('uci_digits')
    for c in range(3):
        (root/str(c)).mkdir(parents=True)
        for i, x in enumerate(sp.x_train[sp.y_train == c][:n]): Image.fromarray(x).save(root/str(c)/f'{i}.png')
    return root

def test_cli_keep_best_then_predict(tmp_path, capsys):
    data, out = _folder(tmp_path/'digits'), tmp_path/'runs'
    assert main(['compare', '--data', str(data), '--strategies', 'linear_probe,full_finetune', '--steps', '2', '--size', '32',
                 '--keep', 'best', '--out', str(out)]) == 0
    printed = capsys.readouterr().out
    assert f'ftlearn predict {out/"best"}' in printed
    res = pd.read_csv(out/'results.csv')
    info = load_model(out/'best').info
    assert info['strategy'] == res.loc[res.valid_accuracy.idxmax(), 'strategy']   # best by validation, never by test
    assert main(['predict', str(out/'best'), str(data/'1')]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].split() == ['item', 'prediction', 'probability'] and len(lines) == 9
    assert main(['predict', str(out/'best'), str(data/'2'/'0.png'), '--out', str(tmp_path/'p.csv')]) == 0
    p = pd.read_csv(tmp_path/'p.csv')
    assert list(p.columns[:3]) == ['item', 'prediction', 'probability'] and len(p) == 1

@pytest.mark.parametrize('args,msg', [(['predict', 'NOWHERE', 'x.png'], 'does not exist'),
                                      (['predict', '{tmp}', 'x.png'], f'no {MODEL_FILE}'),
                                      (['predict', '{model}', '{tmp}/notes.txt'], 'not an image file'),
                                      (['predict', '{model}', '{tmp}/empty'], 'no image files')])
def test_cli_predict_errors_are_short(image_task, tmp_path, capsys, args, msg):
    save_model(run_strategy('linear_probe', image_task, max_epochs=2), image_task, tmp_path/'model')
    (tmp_path/'notes.txt').write_text('x'); (tmp_path/'empty').mkdir()
    args = [a.format(tmp=tmp_path, model=tmp_path/'model') for a in args]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith('ftlearn: error:') and msg in err and 'Traceback' not in err

def test_compare_keeps_probs_and_best_model(image_task, tmp_path):
    from ftlearn.compare import compare, load_results
    from ftlearn.metrics import score
    from ftlearn.deploy import load_probs
    df = compare(image_task, ['feature_extraction', 'linear_probe'], seeds=[0, 1], out=tmp_path, progress=False, keep='best', max_epochs=20)
    best = df.loc[df.valid_accuracy.idxmax()]
    assert load_model(tmp_path/'best').info['run'] == best.run
    for _, row in load_results(tmp_path).iterrows():
        d = load_probs(row, tmp_path)
        assert score(d['probs'], d['y']) == pytest.approx({k: row[k] for k in ('accuracy', 'macro_f1', 'roc_auc')})
    again = compare(image_task, ['feature_extraction', 'linear_probe'], seeds=[0, 1], out=tmp_path, progress=False, keep='all', max_epochs=20)
    assert sorted(p.name for p in (tmp_path/'models').iterdir()) == sorted(again.run)

def test_interpret_a_text_run(text_task, tmp_path, capsys):
    from ftlearn.compare import compare
    from ftlearn.interpret import interpret, show_mistakes
    df = compare(text_task, ['feature_extraction'], out=tmp_path, progress=False)
    e = interpret(df.iloc[0], text_task.splits, tmp_path)
    cm = e['confusion'].values
    assert cm.sum() == 16 and np.trace(cm) / 16 == pytest.approx(df.accuracy[0])
    np.testing.assert_allclose(e['confusion_normalised'].values.sum(1), 1)
    assert (e['per_class'].support.values == cm.sum(1)).all()
    m = e['mistakes']
    assert len(m) == min(9, 16 - np.trace(cm)) and (m.probability.diff().dropna() <= 0).all()
    assert list(m.text) == [text_task.splits.x_test[i] for i in m.index]
    show_mistakes(m, text_task.splits)
    assert len(capsys.readouterr().out.strip().splitlines()) == len(m)
    assert (tmp_path/'runs'/f'{df.run[0]}.per_class.csv').exists()

@pytest.mark.parametrize('name,kind', [('pixel_logreg', 'image'), ('tfidf_logreg', 'text')])
def test_baselines_run_through_compare_and_keep(image_task, text_task, tmp_path, name, kind):
    from ftlearn.compare import compare
    task = image_task if kind == 'image' else text_task
    df = compare(task, [name], seeds=[0, 1], out=tmp_path, progress=False, lr=None, keep='best')
    assert (df.status == 'ok').all() and (df.steps == 0).all() and df.lr.isna().all()   # no budget, no rate grid
    assert 'chosen on validation' in df.notes[0]
    m = load_model(tmp_path/'best')
    from ftlearn.deploy import load_probs
    best = df.loc[df.valid_accuracy.idxmax()]
    np.testing.assert_allclose(m.probs(task.splits.x_test), load_probs(best, tmp_path)['probs'], atol=1e-5)
    other = image_task if kind == 'text' else text_task
    with pytest.raises(ValueError, match=f"{name} needs"): compare(other, [name], out=tmp_path/'x', progress=False)

def test_cli_runs_baselines(tmp_path, capsys):
    data = _folder(tmp_path/'digits')
    assert main(['compare', '--data', str(data), '--strategies', 'pixel_logreg', '--size', '32', '--out', str(tmp_path/'o')]) == 0
    assert 'pixel_logreg' in capsys.readouterr().out

def test_cli_predict_on_a_text_model(text_task, tmp_path, capsys):
    r = run_strategy('feature_extraction', text_task)
    save_model(r, text_task, tmp_path/'m')
    pd.DataFrame(dict(text=list(text_task.splits.x_test[:3]))).to_csv(tmp_path/'new.csv', index=False)
    assert main(['predict', str(tmp_path/'m'), str(tmp_path/'new.csv'), '--out', str(tmp_path/'p.csv')]) == 0
    p = pd.read_csv(tmp_path/'p.csv')
    assert list(p.item) == ['new.csv:2', 'new.csv:3', 'new.csv:4']
    np.testing.assert_allclose(p[text_task.splits.classes].values, r.probs[:3], atol=1e-5)
    assert main(['predict', str(tmp_path/'m'), str(tmp_path/'m'/MODEL_FILE)]) == 2
    assert 'not a .csv or .txt file' in capsys.readouterr().err

"The data layer: every offline loader, seeded splits, subsampling, users' own data and clear errors (offline)."
import numpy as np, pandas as pd, pytest, torch
from PIL import Image
import ftlearn.data as D
from ftlearn.data import load_data, image_folder, text_frame, to_image_tensor, image_dls, image_dl, list_datasets

OFFLINE = {  # name: (kind, classes, shape of one image or None for text)
    'fashion_mnist': ('image', 10, (28, 28)), 'mnist_subset': ('image', 10, (28, 28)), 'uci_digits': ('image', 10, (8, 8)),
    'faces': ('image', 2, (25, 25)), 'rotten_tomatoes': ('text', 2, None), 'fortunes': ('text', 4, None)}

@pytest.mark.parametrize('name', list(OFFLINE))
def test_offline_loader(name):
    kind, k, shape = OFFLINE[name]
    d = load_data(name, n_per_class=5, n_valid=20, n_test=20)
    assert d.kind == kind and d.n_classes == k and len(d.classes) == k
    assert np.bincount(d.y_train, minlength=k).tolist() == [5] * k
    assert len(d.y_valid) == 20 and len(d.y_test) == 20 and d.y_train.dtype == np.int64
    if shape: assert d.x_train.shape[1:] == shape and d.x_train.dtype == np.uint8
    else: assert all(isinstance(t, str) and t for t in d.x_train)
    assert d.summary().loc['train', 'total'] == 5 * k

def test_official_sizes():
    d = load_data('fashion_mnist')
    assert len(d.y_train) + len(d.y_valid) == 60000 and len(d.y_test) == 10000
    assert np.bincount(d.y_test).tolist() == [1000] * 10
    rt = load_data('rotten_tomatoes')
    assert len(rt.y_train) + len(rt.y_valid) + len(rt.y_test) == 12808 and rt.classes == ['fresh', 'rotten']

def _ids(d):  # identify examples by content so overlap checks are meaningful
    return [set(map(bytes, np.ascontiguousarray(x).reshape(len(x), -1))) for x in (d.x_train, d.x_valid, d.x_test)]

def test_splits_deterministic_and_disjoint():
    a, b = load_data('uci_digits', seed=3), load_data('uci_digits', seed=3)
    c = load_data('uci_digits', seed=4)
    for s in ('train', 'valid', 'test'): assert a.fingerprint(s) == b.fingerprint(s)
    assert a.fingerprint('train') != c.fingerprint('train')
    tr, va, te = _ids(a)
    assert len(tr & va) <= 5 and len(tr & te) <= 5  # splits are disjoint by index; uci_digits has a few duplicate images
    assert len(a.y_train) + len(a.y_valid) + len(a.y_test) == 1797

def test_subsampling():
    d = load_data('mnist_subset', frac=0.1)
    full = load_data('mnist_subset')
    assert abs(len(d.y_train) - round(0.1 * len(full.y_train))) <= 1
    assert d.fingerprint('test') == full.fingerprint('test')  # test set does not depend on train subsampling
    with pytest.warns(UserWarning, match='only'):
        f = load_data('faces', n_per_class=500)
    assert np.bincount(f.y_train).tolist() == np.bincount(load_data('faces').y_train).tolist()

def test_bad_input(monkeypatch, tmp_path):
    with pytest.raises(ValueError, match='fashion_mnist'): load_data('imagenet')
    with pytest.raises(ValueError, match='no examples'): load_data('uci_digits', frac=0.001)
    with pytest.raises(ValueError, match='n_per_class'): load_data('uci_digits', n_per_class=0)
    with pytest.raises(ValueError, match='frac'): load_data('uci_digits', frac=1.5)
    monkeypatch.setattr(D, 'FASHION_MNIST_DIR', tmp_path/'nowhere')
    monkeypatch.setenv('FTLEARN_CACHE', str(tmp_path/'cache'))  # no decoded copy from an earlier run
    with pytest.raises(FileNotFoundError, match='apt-get install dataset-fashion-mnist'): load_data('fashion_mnist')
    with pytest.raises(FileNotFoundError, match='FTLEARN_OFFLINE'): load_data('cifar10')

def test_damaged_data_cache_is_rebuilt(monkeypatch, tmp_path):
    monkeypatch.setenv('FTLEARN_CACHE', str(tmp_path))
    a = load_data('uci_digits')
    f = tmp_path/'data'/'uci_digits.npz'
    f.write_bytes(f.read_bytes()[:500])
    with pytest.warns(UserWarning, match='damaged'): b = load_data('uci_digits')
    assert a.fingerprint('train') == b.fingerprint('train')

def test_image_folder(tmp_path):
    for c, v in [('a', 30), ('b', 200), ('c', 120)]:
        (tmp_path/c).mkdir()
        for i in range(6): Image.fromarray(np.full((20 + i, 17, 3), v, np.uint8)).save(tmp_path/c/f'{i}.jpg')
    d = image_folder(tmp_path, size=24, n_per_class=2)
    assert d.classes == ['a', 'b', 'c'] and d.x_train.shape == (6, 24, 24, 3)
    (tmp_path/'d').mkdir()
    with pytest.raises(ValueError, match="class folder .*d has no images"): image_folder(tmp_path)
    (tmp_path/'d'/'broken.png').write_bytes(b'\x89PNG garbage')
    with pytest.raises(ValueError, match='broken.png'): image_folder(tmp_path)
    with pytest.raises(FileNotFoundError): image_folder(tmp_path/'missing')

def test_text_frame_csv(tmp_path):
    p = tmp_path/'t.csv'
    rows = b'text,label\n' + b''.join(f'good movie {i},pos\nbad movie {i},neg\n'.encode() for i in range(10)) + b'caf\xe9 latin-1,pos\n'
    p.write_bytes(rows)
    d = text_frame(p)
    assert d.classes == ['neg', 'pos'] and sum(map(len, (d.y_train, d.y_valid, d.y_test))) == 21
    assert any('caf' in t for t in np.concatenate([d.x_train, d.x_valid, d.x_test]))
    with pytest.raises(ValueError, match="column 'review' not found"): text_frame(p, text_col='review')

def test_to_image_tensor_and_dls():
    d = load_data('fashion_mnist', n_per_class=4, n_valid=10, n_test=12)
    x = to_image_tensor(d.x_train[:3], 40, ((0.5,) * 3, (0.25,) * 3))
    assert x.shape == (3, 3, 40, 40) and x.dtype == torch.float32
    assert torch.equal(x[:, 0], x[:, 1])
    raw = to_image_tensor(d.x_train[:3], 28)
    assert torch.allclose(raw[:, 0], torch.as_tensor(d.x_train[:3]).float() / 255)
    with pytest.raises(ValueError, match='expected images'): to_image_tensor(np.zeros((2, 5), np.uint8), 8)
    dls = image_dls(d, size=32, bs=8, augment=True)
    xb, yb = dls.one_batch()
    assert xb.shape == (8, 3, 32, 32) and yb.shape == (8,) and dls.c == 10
    assert len(image_dl(d, 'test', 32).dataset) == 12

def test_list_datasets():
    df = list_datasets()
    assert {'fashion_mnist', 'rotten_tomatoes', 'cifar10'} <= set(df.name)
    assert not df.set_index('name').loc['cifar10', 'available_now']  # tests are offline

def test_single_class_is_a_clear_error(tmp_path):
    (tmp_path/'cats').mkdir()
    for i in range(5): Image.fromarray(np.full((20, 20, 3), 10 * i, np.uint8)).save(tmp_path/'cats'/f'{i}.png')
    with pytest.raises(ValueError, match='1 class.*at least 2'): image_folder(tmp_path)
    with pytest.raises(ValueError, match='1 class.*at least 2'):
        text_frame(pd.DataFrame(dict(text=[f'review {i}' for i in range(20)], label=['good'] * 20)))

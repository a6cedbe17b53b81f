"The data layer: every offline loader, seeded splits, subsampling, users' own data and clear errors (offline)."
import dataclasses, gzip, shutil, struct, warnings, zlib
import numpy as np, pandas as pd, pytest, torch
from PIL import Image
import ftlearn.data.core as D
import ftlearn.data.datasets as DS
import ftlearn.data.folders as F
from ftlearn.data.datasets import load_data, list_datasets
from ftlearn.data.folders import image_folder, text_frame
from ftlearn.data.loaders import to_image_tensor, image_dls, image_dl

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
    monkeypatch.setattr(DS, 'FASHION_MNIST_DIR', tmp_path/'nowhere')
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

# ---- issue 10: every input gets a clear answer ----
def _classes(root, n, classes=('a', 'b'), size=8):
    rng = np.random.default_rng(0)
    for c in classes:
        (root/c).mkdir(parents=True, exist_ok=True)
        for i in range(n): Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(root/c/f'{i}.png')
    return root

def test_meaningless_splits_are_refused():
    for kw, arg in [(dict(n_test=0), 'n_test'), (dict(n_valid=0), 'n_valid'), (dict(n_test=-5), 'n_test'), (dict(n_valid=True), 'n_valid'),
                    (dict(valid_pct=0), 'valid_pct'), (dict(valid_pct=1.2), 'valid_pct'), (dict(valid_pct=float('nan')), 'valid_pct'),
                    (dict(frac=0), 'frac'), (dict(n_per_class=5.0), 'n_per_class'), (dict(seed=None), 'seed'), (dict(frac=0.5, n_per_class=3), 'not both')]:
        with pytest.raises(ValueError, match=arg): load_data('uci_digits', **kw)
    d = load_data('uci_digits', n_per_class=np.int64(5), n_valid=np.int32(50), n_test=np.int64(50))   # numpy integers are whole numbers
    assert np.bincount(d.y_train).tolist() == [5] * 10 and len(d.y_test) == 50
    x, y = np.zeros((60, 4, 4), np.uint8), np.repeat([0, 1], 30)
    with pytest.raises(ValueError, match='test_pct'): D.make_splits('toy', 'image', ['a', 'b'], x, y, test_pct=-0.2)
    with pytest.raises(ValueError, match=r'valid_pct \+ test_pct'): D.make_splits('toy', 'image', ['a', 'b'], x, y, valid_pct=0.5, test_pct=0.5)
    with pytest.warns(UserWarning, match='only 20 test examples for 10 classes'): load_data('uci_digits', n_test=20)

def test_too_few_images_per_class(tmp_path):
    with pytest.raises(ValueError, match='each class needs at least 3'): image_folder(_classes(tmp_path/'two', 2), size=8)
    with pytest.raises(ValueError, match='each class needs at least 3'): image_folder(_classes(tmp_path/'one', 1), size=8)
    with pytest.warns(UserWarning, match=r'test split holds 1 example: an accuracy on one item means nothing'): image_folder(_classes(tmp_path/'three', 3), size=8)

@pytest.mark.parametrize('dtype,lo,hi,fmt', [(np.uint16, 0, 65535, 'PNG'), (np.int32, 0, 3_000_000, 'TIFF'),
                                             (np.float32, 0, 1, 'TIFF'), (np.float32, -4, 4, 'TIFF')])
def test_deep_images_keep_their_content(tmp_path, dtype, lo, hi, fmt):
    root = _classes(tmp_path, 10)
    Image.fromarray(np.linspace(lo, hi, 16)[None].repeat(16, 0).astype(dtype)).save(root/'a'/f'ramp.{fmt.lower()}', format=fmt)
    x = F.read_image(root/'a'/f'ramp.{fmt.lower()}', 16)
    assert x.shape == (16, 16, 3) and x[..., 0].min() <= 8 and x[..., 0].max() >= 247   # not clipped to 0/255
    assert (np.diff(x[0, :, 0].astype(int)) > 0).all()                                 # the gradient survives
    assert len(image_folder(root, size=16).summary()) == 3

def test_bad_image_folders(tmp_path):
    root = _classes(tmp_path/'bomb', 10)
    chunk = lambda t, d: struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d))
    ihdr = struct.pack('>IIBBBBB', 20000, 20000, 1, 0, 0, 0, 0)                     # declares 20000 x 20000 pixels, holds none
    (root/'a'/'huge.png').write_bytes(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', ihdr) + chunk(b'IEND', b''))
    with pytest.raises(ValueError, match='huge.png is too large'): image_folder(root)
    root = _classes(tmp_path/'nested', 10)
    _classes(root/'a'/'more', 10, classes=('deeper',))
    d = image_folder(root, size=8)
    assert d.classes == ['a', 'b'] and np.bincount(np.concatenate([d.y_train, d.y_valid, d.y_test])).tolist() == [20, 10]
    (root/'a_link').symlink_to(root/'a', target_is_directory=True)
    with pytest.raises(ValueError, match="same image file is in class folders 'a' and 'a_link'"): image_folder(root, size=8)
    split = tmp_path/'split'
    _classes(split/'train', 12); _classes(split/'test', 4, classes=('a', 'zebra'))
    with pytest.raises(ValueError, match=r"\['zebra'\].*classes are \['a', 'b'\]"): image_folder(split, size=8)
    for c in ('a', 'zebra'): shutil.rmtree(split/'test'/c)
    with pytest.raises(ValueError, match='test has no class sub-folders'): image_folder(split, size=8)
    with pytest.raises(ValueError, match='size must be a whole number'): image_folder(split, size=0)

def test_bad_tables(tmp_path):
    p = tmp_path/'reviews.csv'
    for data, msg in [(b'', r'reviews\.csv is empty'), (b'\x89PNG\r\n\x1a\n\x00\x00' + bytes(range(256)), r'reviews\.csv is not a CSV text file'),
                      (b'text,label\n"no closing quote,pos\nok,neg\n', r'cannot parse CSV file .*reviews\.csv.*quot')]:
        p.write_bytes(data)
        with pytest.raises(ValueError, match=msg): text_frame(p)
    df = pd.DataFrame(dict(text=[f'review {i}' for i in range(60)], label=[1, '1', 2] * 20))
    with pytest.raises(ValueError, match=r"labels 1 and '1'"): text_frame(df)
    df = pd.DataFrame(dict(text=[f'review {i}' for i in range(60)], label=['good', 'bad'] * 30)); df.loc[[3, 4], 'text'] = np.nan
    with pytest.warns(UserWarning, match="dropped 2 of 60 rows"): d = text_frame(df)
    assert sum(map(len, (d.y_train, d.y_valid, d.y_test))) == 58

# ---- issue 22: the last bad inputs ----
def test_splits_that_cannot_be_scored_are_refused_wherever_they_are_built():
    d = load_data('uci_digits', n_per_class=5, n_valid=50, n_test=50)
    with pytest.raises(ValueError, match=r'uci_digits: the test split is empty \(x_test and y_test hold no items\)'):
        dataclasses.replace(d, x_test=d.x_test[:0], y_test=d.y_test[:0])
    with pytest.raises(ValueError, match=r'uci_digits: the valid split is empty'):
        D.DataSplits(d.name, d.kind, d.classes, d.x_train, d.y_train, d.x_valid[:0], d.y_valid[:0], d.x_test, d.y_test)
    with pytest.raises(ValueError, match=r'the test labels \(y_test\) must be whole numbers from 0 to 9 .*found \[10\]'):
        dataclasses.replace(d, y_test=d.y_test + 1)       # labels off by one: they used to score 0 silently
    with pytest.warns(UserWarning, match='accuracy on one item means nothing'):
        one = dataclasses.replace(d, x_test=d.x_test[:1], y_test=d.y_test[:1])
    assert len(one.y_test) == 1
    x, y = np.zeros((60, 4, 4), np.uint8), np.repeat([0, 1], 30)
    with pytest.raises(ValueError, match=r"toy: the test labels \(y_test\) must be whole numbers from 0 to 1 .*found \['a', 'b'\]"):
        D.make_splits('toy', 'image', ['a', 'b'], x, y, x[:4], ['a', 'b', 'a', 'b'])
    with pytest.raises(ValueError, match='the test split is empty; add examples to the test set'): D.make_splits('toy', 'image', ['a', 'b'], x, y, x[:0], y[:0])
    with pytest.raises(ValueError, match='the valid split is empty; raise valid_pct'): D.make_splits('toy', 'image', ['a', 'b'], x, y, valid_pct=0.001)
    with warnings.catch_warnings(record=True) as ws:
        warnings.simplefilter('always'); D.make_splits('toy', 'image', ['a', 'b'], x, y, x[:1], y[:1])
    assert sum('one item means nothing' in str(w.message) for w in ws) == 1   # said once, not also as 'only 1 test examples'

def test_data_cache_is_checked_by_content(monkeypatch, tmp_path):
    monkeypatch.setenv('FTLEARN_CACHE', str(tmp_path))
    a = load_data('uci_digits'); load_data('faces')
    data = tmp_path/'data'
    shutil.copy(data/'faces.npz', data/'uci_digits.npz')                  # another data set's valid cache file
    with pytest.warns(UserWarning, match="holds the data set 'faces', not 'uci_digits'; rebuilding it"): b = load_data('uci_digits')
    assert a.fingerprint('train') == b.fingerprint('train') and b.x_train.shape[1:] == (8, 8)
    with np.load(data/'uci_digits.npz') as z: d = dict(z)
    d['y'] = d['y'][::-1].copy(); np.savez(data/'uci_digits.npz', **d)     # edited arrays, old checksum
    with pytest.warns(UserWarning, match='does not match its checksum'): c = load_data('uci_digits')
    assert a.fingerprint('train') == c.fingerprint('train')
    with warnings.catch_warnings():
        warnings.simplefilter('error'); assert load_data('uci_digits').fingerprint('train') == a.fingerprint('train')   # rebuilt: no more warnings

def test_damaged_fashion_mnist_file_names_the_fix(monkeypatch, tmp_path):
    src = DS.FASHION_MNIST_DIR
    for f in src.glob('*.gz'): (tmp_path/f.name).symlink_to(f)
    (tmp_path/'t10k-labels-idx1-ubyte.gz').unlink()
    (tmp_path/'t10k-labels-idx1-ubyte.gz').write_bytes((src/'t10k-labels-idx1-ubyte.gz').read_bytes()[:1000])   # a cut copy
    monkeypatch.setattr(DS, 'FASHION_MNIST_DIR', tmp_path)
    monkeypatch.setenv('FTLEARN_CACHE', str(tmp_path/'cache'))
    with pytest.raises(ValueError, match=r't10k-labels-idx1-ubyte\.gz is damaged \(EOFError.*apt-get install --reinstall dataset-fashion-mnist.*FTLEARN_FASHION_MNIST_DIR'):
        load_data('fashion_mnist')

def test_faces_labels_name_the_faces():
    # scikit-image's lfw_subset holds 100 faces, then 100 non-faces; the loader once swapped the two labels
    from ftlearn.data.datasets import raw_data
    d = raw_data('faces')
    assert [d['classes'][i] for i in d['y'][[0, 99, 100, 199]]] == ['face', 'face', 'non-face', 'non-face']

def test_data_cache_of_an_older_loader_is_rebuilt(tmp_path, monkeypatch):
    # a cache written before a loader's version was raised (DATA_VERSIONS) is not trusted
    import ftlearn.data.datasets as dd
    monkeypatch.setenv('FTLEARN_CACHE', str(tmp_path))
    old = dd.raw_data('faces')
    monkeypatch.setitem(dd.DATA_VERSIONS, 'faces', 99)
    calls = []
    monkeypatch.setitem(dd.DATASETS, 'faces', (lambda: calls.append(1) or old,) + dd.DATASETS['faces'][1:])
    dd.raw_data('faces'); dd.raw_data('faces')
    assert calls == [1]   # rebuilt once, then read from the new cache

"Fuzzing the data layer: bad or edge-case inputs to the loaders, image folders, tables, tensors and the text task (offline)."
import os
for k in ('FTLEARN_OFFLINE', 'HF_HUB_OFFLINE', 'TRANSFORMERS_OFFLINE'): os.environ.setdefault(k, '1')
import dataclasses, gzip, shutil, struct, zlib
from functools import cache
from pathlib import Path
import numpy as np, pandas as pd, pytest
from PIL import Image
from fuzzlib import Case, attr, check, env, fuzz_params, unreadable
import ftlearn.data.datasets as DS
from ftlearn.data.datasets import load_data
from ftlearn.data.core import DataSplits, make_splits
from ftlearn.data.folders import image_folder, text_frame
from ftlearn.data.loaders import to_image_tensor, image_dls, image_dl

# ---- builders: tiny images, folders and tables in the case's temporary folder ----
def _save(f, arr, **kw):
    f = Path(f); f.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(f, **kw)
    return f

def _folder(root, n=6, classes=('a', 'b'), ext='png', size=8):
    "Class folders of `n` distinct small colour images each."
    rng = np.random.default_rng(0)
    for j, c in enumerate(classes):
        for i in range(n): _save(Path(root)/c/f'{i}.{ext}', rng.integers(0, 256, (size, size, 3), dtype=np.uint8))
    return Path(root)

def _png_header(f, w, h):
    "A PNG that declares `w` x `h` pixels but holds no pixel data (PIL checks the size on open)."
    def chunk(t, d): return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d) & 0xffffffff)
    Path(f).parent.mkdir(parents=True, exist_ok=True)
    Path(f).write_bytes(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 1, 0, 0, 0, 0)) + chunk(b'IEND', b''))

def _texts(n=30, labels=('good', 'bad')):
    return pd.DataFrame(dict(text=[f'{l} film number {i}' for i in range(n) for l in labels], label=[l for i in range(n) for l in labels]))

def _csv(tmp, data: bytes, name='t.csv'):
    p = tmp/name; p.write_bytes(data); return p

def _good_csv_rows(n=20):
    return b''.join(f'good movie {i},pos\nbad movie {i},neg\n'.encode() for i in range(n))

@cache
def _tok():
    from ftlearn.models.backbones import load_tokenizer
    return load_tokenizer('all-MiniLM-L6-v2')

@cache
def _digits(): return load_data('uci_digits', n_per_class=5, n_valid=50, n_test=50)

@cache
def _text_splits():
    return text_frame(_texts(30))

def _TextTask(*args, **kw):
    from ftlearn.tasks.text import TextTask   # transformers loads slowly: only when a text case runs
    return TextTask(*args, **kw)

def _tokenize(*args):
    from ftlearn.tasks.text import tokenize
    return tokenize(*args)

def _text_task(**kw): return _TextTask(_text_splits(), 'all-MiniLM-L6-v2', **kw)

def _ramp_survives(d, lo=0, hi=255):
    "The grey ramp we saved comes back spanning about `lo`..`hi`, increasing, with many levels (not saturated to 0 or 255)."
    xs = np.concatenate([d.x_train, d.x_valid, d.x_test])
    grey = [x[..., 0] for x in xs if (x[..., 0] == x[..., 1]).all() and (x[..., 1] == x[..., 2]).all()]
    assert grey, 'the grey image was lost'
    g = grey[0].astype(int)
    assert abs(g.min() - lo) <= 8 and abs(g.max() - hi) <= 8 and len(np.unique(g)) > 8, f'content lost: levels {np.unique(g)}'
    assert (np.diff(g.mean(0)) >= 0).all(), 'the gradient is not preserved'

def _total(d): return len(d.y_train) + len(d.y_valid) + len(d.y_test)

def _ramp(dtype, lo, hi, n=16):
    return np.linspace(lo, hi, n)[None].repeat(n, 0).astype(dtype)

# ---- load_data and make_splits: counts, fractions, seeds ----
def _ld(**kw): return lambda tmp: load_data('uci_digits', **kw)
def _toy(n=30, k=3, **kw):
    return lambda tmp: make_splits('toy', 'image', [f'c{i}' for i in range(k)], np.zeros((n * k, 4, 4), np.uint8), np.repeat(np.arange(k), n), **kw)

def _toy_test(n, y_test=None):
    "The toy data set with a given test set of `n` items (labels `y_test`, default 0, 1, 2, ...)."
    return _toy(x_test=np.zeros((n, 4, 4), np.uint8), y_test=np.arange(n) % 3 if y_test is None else y_test)

WHOLE = r'must be a whole number'
CASES = [
    Case('load_n_test_0', _ld(n_test=0), match=r'n_test ' + WHOLE + r' >= 1', area='loaders'),
    Case('load_n_valid_0', _ld(n_valid=0), match=r'n_valid ' + WHOLE + r' >= 1', area='loaders'),
    Case('load_n_test_negative', _ld(n_test=-5), match=r'n_test ' + WHOLE, area='loaders'),
    Case('load_n_valid_float', _ld(n_valid=10.5), match=r'n_valid ' + WHOLE, area='loaders'),
    Case('load_n_test_bool', _ld(n_test=True), match=r'n_test ' + WHOLE, area='loaders'),
    Case('load_n_test_str', _ld(n_test='100'), match=r'n_test ' + WHOLE, area='loaders'),
    Case('load_n_test_numpy_int', _ld(n_test=np.int64(100), n_valid=np.int32(100)), expect='ok', area='loaders',
         check=lambda d: (len(d.y_test), len(d.y_valid)) == (100, 100)),
    Case('load_n_per_class_numpy_int', _ld(n_per_class=np.int32(5), n_valid=100, n_test=100), expect='ok', area='loaders',
         check=lambda d: np.bincount(d.y_train).tolist() == [5] * 10 and len(d.y_test) == 100),
    Case('load_n_per_class_0', _ld(n_per_class=0), match=r'n_per_class ' + WHOLE + r' >= 1', area='loaders'),
    Case('load_n_per_class_negative', _ld(n_per_class=-3), match=r'n_per_class ' + WHOLE, area='loaders'),
    Case('load_n_per_class_fraction', _ld(n_per_class=2.5), match=r'n_per_class ' + WHOLE, area='loaders'),
    Case('load_n_per_class_float_whole', _ld(n_per_class=5.0), match=r'n_per_class ' + WHOLE, area='loaders'),
    Case('load_n_per_class_bool', _ld(n_per_class=True), match=r'n_per_class ' + WHOLE, area='loaders'),
    Case('load_frac_0', _ld(frac=0), match=r'frac must be a fraction in \(0, 1\]', area='loaders'),
    Case('load_frac_negative', _ld(frac=-0.1), match=r'frac must be a fraction', area='loaders'),
    Case('load_frac_above_1', _ld(frac=1.5), match=r'frac must be a fraction', area='loaders'),
    Case('load_frac_nan', _ld(frac=float('nan')), match=r'frac must be a fraction', area='loaders'),
    Case('load_frac_str', _ld(frac='0.5'), match=r'frac must be a fraction', area='loaders'),
    Case('load_frac_1', _ld(frac=1), expect='ok', area='loaders', check=lambda d: _total(d) == 1797),
    Case('load_frac_too_small', _ld(frac=0.001), match=r'no examples of', area='loaders'),
    Case('load_frac_and_n_per_class', _ld(frac=0.5, n_per_class=5), match=r'n_per_class or frac, not both', area='loaders'),
    Case('load_valid_pct_0', _ld(valid_pct=0), match=r'valid_pct must be a fraction in \(0, 1\)', area='loaders'),
    Case('load_valid_pct_1', _ld(valid_pct=1), match=r'valid_pct must be a fraction', area='loaders'),
    Case('load_valid_pct_negative', _ld(valid_pct=-0.2), match=r'valid_pct must be a fraction', area='loaders'),
    Case('load_valid_pct_nan', _ld(valid_pct=float('nan')), match=r'valid_pct must be a fraction', area='loaders'),
    Case('load_valid_pct_bool', _ld(valid_pct=True), match=r'valid_pct must be a fraction', area='loaders'),
    Case('load_seed_negative', _ld(seed=-1), match=r'seed ' + WHOLE + r' >= 0', area='loaders'),
    Case('load_seed_float', _ld(seed=1.5), match=r'seed ' + WHOLE, area='loaders'),
    Case('load_seed_none', _ld(seed=None), match=r'seed ' + WHOLE, area='loaders'),
    Case('load_name_list', lambda tmp: load_data(['uci_digits']), match=r'unknown data set.*uci_digits', area='loaders'),
    Case('load_name_wrong_case', lambda tmp: load_data('UCI_DIGITS'), match=r"unknown data set 'UCI_DIGITS'.*uci_digits", area='loaders'),
    Case('load_few_test_warns', _ld(n_test=20), expect='warn', match=r'only 20 test examples for 10 classes', area='loaders'),
    Case('load_few_valid_warns', _ld(n_valid=5), expect='warn', match=r'only 5 valid examples', area='loaders'),
    Case('load_n_per_class_above_available', lambda tmp: load_data('faces', n_per_class=500), expect='warn',
         match=r'has only \d+ examples', area='loaders'),
    Case('load_valid_pct_tiny', _ld(valid_pct=0.0001), match=r'uci_digits: the valid split is empty; raise valid_pct', area='loaders'),
    Case('splits_ok', _toy(), expect='ok', area='loaders', check=lambda d: _total(d) == 90 and np.bincount(d.y_test).tolist() == [6, 6, 6]),
    Case('splits_test_pct_0', _toy(test_pct=0), match=r'test_pct must be a fraction', area='loaders'),
    Case('splits_test_pct_negative', _toy(test_pct=-0.2), match=r'test_pct must be a fraction', area='loaders'),
    Case('splits_test_pct_1', _toy(test_pct=1.0), match=r'test_pct must be a fraction', area='loaders'),
    Case('splits_pcts_sum_1', _toy(valid_pct=0.5, test_pct=0.5), match=r'valid_pct \+ test_pct must be below 1', area='loaders'),
    Case('splits_one_per_class', _toy(n=1), match=r'each class needs at least 3', area='loaders'),
    Case('splits_two_per_class', _toy(n=2), match=r'each class needs at least 3', area='loaders'),
    Case('splits_four_per_class_warns', _toy(n=4), expect='warn', match=r'only \d+ test examples', area='loaders'),
    Case('splits_single_class', _toy(k=1), match=r'1 class.*at least 2', area='loaders'),
    Case('splits_length_mismatch', lambda tmp: make_splits('toy', 'image', ['a', 'b'], np.zeros((40, 4, 4), np.uint8), np.repeat([0, 1], 25)),
         match=r'40 inputs but 50 labels', area='loaders'),
    Case('splits_label_out_of_range', lambda tmp: make_splits('toy', 'image', ['a', 'b'], np.zeros((60, 4, 4), np.uint8), np.repeat([0, 1, 2], 20)),
         match=r'labels must be whole numbers from 0 to 1', area='loaders'),
    Case('splits_repeated_class_names', lambda tmp: make_splits('toy', 'image', ['a', 'a'], np.zeros((60, 4, 4), np.uint8), np.repeat([0, 1], 30)),
         match=r'class names repeat', area='loaders'),
    Case('splits_bool_labels', lambda tmp: make_splits('toy', 'image', ['no', 'yes'], np.zeros((60, 4, 4), np.uint8), np.repeat([False, True], 30)),
         expect='ok', area='loaders', check=lambda d: d.classes == ['no', 'yes'] and d.y_train.dtype == np.int64 and set(d.y_train) == {0, 1}),
    Case('splits_valid_pct_tiny', _toy(valid_pct=0.001), match=r'toy: the valid split is empty; raise valid_pct', area='loaders'),
    Case('splits_test_set_empty', _toy_test(0), match=r'toy: the test split is empty; add examples to the test set', area='loaders'),
    Case('splits_test_set_one_item', _toy_test(1), expect='warn', match=r'test split holds 1 example: an accuracy on one item means nothing',
         area='loaders', check=lambda d: len(d.y_test) == 1),
    Case('splits_test_labels_out_of_range', _toy_test(6, y_test=[0, 1, 2, 3, 4, 5]),
         match=r"the test labels \(y_test\) must be whole numbers from 0 to 2 \(one per class name: \['c0', 'c1', 'c2'\]\); found \[3, 4, 5\]", area='loaders'),
    Case('splits_test_labels_negative', _toy_test(3, y_test=[0, -1, 2]), match=r'the test labels \(y_test\) must be whole numbers from 0 to 2.*found \[-1\]',
         area='loaders'),
    Case('splits_test_labels_names', _toy_test(3, y_test=['c0', 'c1', 'c2']), match=r"the test labels \(y_test\) must be whole numbers.*found \['c0', 'c1', 'c2'\]",
         area='loaders'),
    Case('splits_test_labels_fractions', _toy_test(3, y_test=[0, 0.5, 1]), match=r'the test labels \(y_test\) must be whole numbers.*found \[0\.5\]', area='loaders'),
    Case('splits_test_length_mismatch', _toy_test(4, y_test=[0, 1, 2]), match=r'the test set has 4 inputs \(x_test\) but 3 labels \(y_test\)', area='loaders'),
    Case('splits_x_test_without_y_test', _toy(x_test=np.zeros((6, 4, 4), np.uint8)), match=r'give x_test and y_test together, not only x_test', area='loaders'),
    Case('splits_test_set_numpy_labels', _toy_test(6, y_test=np.array([0, 1, 2, 0, 1, 2], np.uint8)), expect='warn', match=r'only 6 test examples',
         area='loaders', check=lambda d: d.y_test.tolist() == [0, 1, 2, 0, 1, 2] and d.y_test.dtype == np.int64),
]

# ---- DataSplits built by hand (or by dataclasses.replace): the same checks as make_splits ----
def _ds(**kw):
    def run(tmp):
        x, y = np.zeros((6, 4, 4), np.uint8), np.array([0, 1] * 3)
        parts = dict(x_train=x, y_train=y, x_valid=x, y_valid=y, x_test=x, y_test=y)
        return DataSplits('toy', 'image', ['a', 'b'], **{**parts, **kw})
    return run

def _replace_test(n):
    def run(tmp):
        d = _digits()
        return dataclasses.replace(d, x_test=d.x_test[:n], y_test=d.y_test[:n])
    return run

CASES += [
    Case('datasplits_ok', _ds(), expect='ok', area='loaders', check=lambda d: d.y_test.dtype == np.int64 and d.n_classes == 2),
    Case('datasplits_empty_valid', _ds(x_valid=np.zeros((0, 4, 4), np.uint8), y_valid=np.zeros(0, int)),
         match=r'toy: the valid split is empty \(x_valid and y_valid hold no items\) and early stopping .* need it; give it at least 10 examples', area='loaders'),
    Case('datasplits_empty_test', _ds(x_test=np.zeros((0, 4, 4), np.uint8), y_test=[]),
         match=r'toy: the test split is empty \(x_test and y_test hold no items\) and there is nothing to score', area='loaders'),
    Case('datasplits_empty_train', _ds(x_train=[], y_train=[]), match=r'the train split is empty .*nothing to learn from', area='loaders'),
    Case('datasplits_missing_valid', _ds(x_valid=None), match=r'the valid split is missing \(x_valid is NoneType', area='loaders'),
    Case('datasplits_test_labels_out_of_range', _ds(y_test=np.array([0, 1, 2, 3, 0, 1])),
         match=r"toy: the test labels \(y_test\) must be whole numbers from 0 to 1 \(one per class name: \['a', 'b'\]\); found \[2, 3\]", area='loaders'),
    Case('datasplits_valid_labels_nan', _ds(y_valid=np.array([0, 1, np.nan, 1, 0, 1])), match=r'the valid labels \(y_valid\) must be whole numbers.*found \[nan\]',
         area='loaders'),
    Case('datasplits_labels_2d', _ds(y_train=np.zeros((6, 2), int)), match=r'the train labels \(y_train\) must be a 1-d array of class indices', area='loaders'),
    Case('datasplits_length_mismatch', _ds(y_valid=np.array([0, 1, 0])), match=r'the valid split has 6 inputs \(x_valid\) but 3 labels \(y_valid\)', area='loaders'),
    Case('datasplits_unknown_kind', lambda tmp: dataclasses.replace(_ds()(tmp), kind='audio'), match=r"kind must be 'image' or 'text', not 'audio'", area='loaders'),
    Case('datasplits_one_test_item', _ds(x_test=np.zeros((1, 4, 4), np.uint8), y_test=[1]), expect='warn',
         match=r'toy: the test split holds 1 example: an accuracy on one item means nothing \(it can only be 0% or 100%\); give it at least 10',
         area='loaders', check=lambda d: d.y_test.tolist() == [1]),
    Case('datasplits_replace_empty_test', _replace_test(0), match=r'uci_digits: the test split is empty \(x_test and y_test hold no items\)', area='loaders'),
    Case('datasplits_replace_one_test_item', _replace_test(1), expect='warn', match=r'accuracy on one item means nothing', area='loaders',
         check=lambda d: len(d.y_test) == 1 and d.fingerprint('train') == _digits().fingerprint('train')),
]

# ---- the decoded-data cache and the Debian Fashion-MNIST files ----
def _cache(edit):
    "Load uci_digits into a fresh cache, do `edit(cache folder)` to its file, and load it again."
    def run(tmp):
        with env(FTLEARN_CACHE=tmp/'cache'):
            load_data('uci_digits', n_per_class=5, n_valid=50, n_test=50)
            edit(tmp/'cache'/'data')
            return load_data('uci_digits', n_per_class=5, n_valid=50, n_test=50)
    return run

def _swap(data):
    load_data('faces', n_per_class=5)
    shutil.copy(data/'faces.npz', data/'uci_digits.npz')

def _edit_arrays(data):
    with np.load(data/'uci_digits.npz') as z: d = dict(z)
    d['y'] = (d['y'] + 1) % 10                                           # labels shifted, checksum kept
    np.savez(data/'uci_digits.npz', **d)

def _old_format(data):
    with np.load(data/'uci_digits.npz') as z: d = {k: z[k] for k in z.files if not k.startswith('_')}
    np.savez(data/'uci_digits.npz', **d)

def _same_digits(d): return d.fingerprint('train') == _digits().fingerprint('train') and d.fingerprint('test') == _digits().fingerprint('test')

def _rebuilt_quietly(tmp):
    d = _cache(_old_format)(tmp)
    with np.load(tmp/'cache'/'data'/'uci_digits.npz') as z: assert '_checksum' in z.files, 'the old cache file was not rebuilt'
    return d

def _fashion(data: bytes, name='train-images-idx3-ubyte.gz'):
    "Fashion-MNIST from a folder (FTLEARN_FASHION_MNIST_DIR) whose file `name` holds `data`, the others intact."
    def run(tmp):
        d = tmp/'fashion'; d.mkdir()
        for f in DS.FASHION_MNIST_DIR.glob('*.gz'): (d/f.name).symlink_to(f)
        (d/name).unlink(missing_ok=True); (d/name).write_bytes(data)
        with env(FTLEARN_CACHE=tmp/'cache', FTLEARN_FASHION_MNIST_DIR=d), attr(DS, FASHION_MNIST_DIR=d):
            return load_data('fashion_mnist', n_per_class=5, n_valid=50, n_test=50)
    return run

_LABELS = b'\x00\x00\x08\x01' + (60000).to_bytes(4, 'big')
FIX = r'reinstall it with `apt-get install --reinstall dataset-fashion-mnist`, or point FTLEARN_FASHION_MNIST_DIR at an intact copy'
CASES += [
    Case('cache_swapped_for_another_data_set', _cache(_swap), expect='warn', match=r"uci_digits\.npz holds the data set 'faces', not 'uci_digits'; rebuilding it",
         area='cache', check=_same_digits),
    Case('cache_arrays_edited', _cache(_edit_arrays), expect='warn', match=r'uci_digits\.npz does not match its checksum.*rebuilding it', area='cache',
         check=_same_digits),
    Case('cache_truncated', _cache(lambda data: (data/'uci_digits.npz').write_bytes((data/'uci_digits.npz').read_bytes()[:500])), expect='warn',
         match=r'uci_digits\.npz is damaged; rebuilding it', area='cache', check=_same_digits),
    Case('cache_older_format_rebuilt', _rebuilt_quietly, expect='ok', area='cache', check=_same_digits),
    Case('fashion_gzip_cut', _fashion(gzip.compress(np.random.default_rng(0).bytes(5000))[:2500]), match=r'train-images-idx3-ubyte\.gz is damaged \(EOFError.*' + FIX, area='cache'),
    Case('fashion_not_gzip', _fashion(b'this is not gzip'), match=r'train-images-idx3-ubyte\.gz is damaged \(BadGzipFile.*' + FIX, area='cache'),
    Case('fashion_gzip_of_other_data', _fashion(gzip.compress(b'hello, I am text')),
         match=r'train-images-idx3-ubyte\.gz is damaged \(ValueError: it does not start with the header of an idx file', area='cache'),
    Case('fashion_labels_short', _fashion(gzip.compress(_LABELS + bytes(100)), 'train-labels-idx1-ubyte.gz'),
         match=r'train-labels-idx1-ubyte\.gz is damaged \(ValueError: it holds 100 bytes of data, its header promises 60000\)', area='cache'),
    Case('fashion_empty_file', _fashion(b''), match=r'train-images-idx3-ubyte\.gz is damaged', area='cache'),
    Case('fashion_own_intact_copy', _fashion(gzip.compress(_LABELS + bytes(range(10)) * 6000), 'train-labels-idx1-ubyte.gz'), expect='ok', area='cache',
         check=lambda d: d.source == 'Debian dataset-fashion-mnist' and d.x_train.shape == (50, 28, 28) and np.bincount(d.y_train).tolist() == [5] * 10),
]

# ---- image folders ----
def _bomb(w, h):
    def run(tmp):
        root = _folder(tmp/'imgs', n=10)
        _png_header(root/'a'/'bomb.png', w, h)
        return image_folder(root, size=8)
    return run

def _nested(tmp):
    root = _folder(tmp/'imgs', n=10)
    rng = np.random.default_rng(1)
    for i in range(10): _save(root/'a'/'more'/'deeper'/f'n{i}.png', rng.integers(0, 256, (8, 8, 3), dtype=np.uint8))
    return image_folder(root, size=8)

def _loose(tmp):
    root = _folder(tmp/'imgs', n=10)
    _save(root/'stray.png', np.zeros((8, 8, 3), np.uint8))
    return image_folder(root, size=8)

def _only_loose(tmp):
    root = tmp/'imgs'
    for i in range(6): _save(root/f'{i}.png', np.full((8, 8, 3), i * 40, np.uint8))
    return image_folder(root, size=8)

def _symlinked_class(tmp):
    root = _folder(tmp/'imgs', n=10)
    (root/'a_copy').symlink_to(root/'a', target_is_directory=True)
    return image_folder(root, size=8)

def _train_test(tmp, train=('a', 'b'), test=('a', 'b'), n_test=4):
    root = tmp/'imgs'
    _folder(root/'train', n=12, classes=train)
    (root/'test').mkdir(parents=True)
    if test: _folder(root/'test', n=n_test, classes=test)
    return root

def _train_test_overlap(tmp):
    root = tmp/'imgs'
    _folder(root/'train', n=12)
    (root/'test').mkdir()
    for c in ('a', 'b'): (root/'test'/c).symlink_to(root/'train'/c, target_is_directory=True)
    return image_folder(root, size=8)

def _train_valid(tmp):
    root = tmp/'imgs'
    _folder(root/'train', n=12); _folder(root/'valid', n=4)
    return image_folder(root, size=8)

def _bad_file(name, data):
    def run(tmp):
        root = _folder(tmp/'imgs', n=10)
        (root/'b'/name).write_bytes(data)
        return image_folder(root, size=8)
    return run

def _truncated(tmp):
    root = _folder(tmp/'imgs', n=10)
    f = _save(root/'b'/'cut.png', np.random.default_rng(2).integers(0, 256, (64, 64, 3), dtype=np.uint8))
    f.write_bytes(f.read_bytes()[:300])
    return image_folder(root, size=8)

def _modes(tmp):
    root = _folder(tmp/'imgs', n=8)
    rgb = np.random.default_rng(3).integers(0, 256, (9, 7, 3), dtype=np.uint8)
    for m in ('L', 'P', 'RGBA', 'CMYK', '1', 'LA'): Image.fromarray(rgb).convert(m).save(root/'a'/f'mode_{m}.{"jpg" if m == "CMYK" else "png"}')
    _save(root/'b'/'UPPER.PNG', rgb); _save(root/'b'/'tiny.png', rgb[:1, :1])
    (root/'b'/'notes.txt').write_text('not an image'); (root/'.ipynb_checkpoints').mkdir()
    return image_folder(root, size=8)

def _deep(dtype, lo, hi, fmt='PNG'):
    def run(tmp):
        root = _folder(tmp/'imgs', n=20)
        _save(root/'a'/f'deep.{"tif" if fmt == "TIFF" else "png"}', _ramp(dtype, lo, hi), format=fmt)
        return image_folder(root, size=16)
    return run

def _survives(lo=0, hi=255): return lambda d: _ramp_survives(d, lo, hi)

def _if(n=6, **kw): return lambda tmp: image_folder(_folder(tmp/'imgs', n=n), **kw)

def _linked(link, target):
    "A good image folder with a symbolic link `link` -> `target` inside it."
    def run(tmp, build=False):
        root = tmp/'imgs'
        if not root.exists(): _folder(root, n=10)
        (root/link).parent.mkdir(parents=True, exist_ok=True); (root/link).symlink_to(target)
        if not build: return image_folder(root, size=8)
    return run

def _unreadable(folder, split=False):
    "A good image folder (or train/ and test/ folders) with `folder` inside it unreadable (mode 000)."
    def run(tmp):
        root = _train_test(tmp) if split else _folder(tmp/'imgs', n=10)
        if not split: _save(root/'a'/'deeper'/'x.png', np.zeros((8, 8, 3), np.uint8))
        with unreadable(root/folder): return image_folder(root, size=8)
    return run

CASES += [
    Case('img_16bit_png_gradient', _deep(np.uint16, 0, 65535), expect='ok', area='images', check=_survives()),
    Case('img_16bit_png_dark', _deep(np.uint16, 0, 30000), expect='ok', area='images', check=_survives(0, 117)),
    Case('img_32bit_int_tiff', _deep(np.int32, 0, 2_000_000, 'TIFF'), expect='ok', area='images', check=_survives()),
    Case('img_32bit_int_tiff_negative', _deep(np.int32, -1000, 1000, 'TIFF'), expect='ok', area='images', check=_survives()),
    Case('img_float_tiff_unit', _deep(np.float32, 0, 1, 'TIFF'), expect='ok', area='images', check=_survives()),
    Case('img_float_tiff_wide_range', _deep(np.float32, -5, 5, 'TIFF'), expect='ok', area='images', check=_survives()),
    Case('img_decompression_bomb', _bomb(20000, 20000), match=r'bomb\.png.*too large', area='images'),
    Case('img_decompression_bomb_warning_size', _bomb(10000, 10000), match=r'bomb\.png.*too large', area='images'),
    Case('img_nested_subfolders', _nested, expect='ok', area='images',
         check=lambda d: d.classes == ['a', 'b'] and np.bincount(np.concatenate([d.y_train, d.y_valid, d.y_test])).tolist() == [20, 10]),
    Case('img_loose_files_beside_classes', _loose, expect='warn', match=r'outside any class folder.*stray\.png', area='images'),
    Case('img_only_loose_files', _only_loose, match=r'no class sub-folders.*holds 6 images', area='images'),
    Case('img_symlinked_class_folder', _symlinked_class, match=r"same image file.*'a'.*'a_copy'", area='images'),
    Case('img_unknown_test_class', lambda tmp: image_folder(_train_test(tmp, test=('a', 'zebra')), size=8),
         match=r"'zebra'.*classes are \['a', 'b'\]", area='images'),
    Case('img_empty_test_folder', lambda tmp: image_folder(_train_test(tmp, test=()), size=8),
         match=r'test has no class sub-folders', area='images'),
    Case('img_test_missing_class', lambda tmp: image_folder(_train_test(tmp, test=('a',), n_test=10), size=8),
         expect='warn', match=r"test split has no examples of \['b'\]", area='images'),
    Case('img_train_test_same_files', _train_test_overlap, match=r'both .*train.*test', area='images'),
    Case('img_train_valid_layout', _train_valid, expect='warn', match=r"\['valid'\].*ignored", area='images'),
    Case('img_corrupt_file', _bad_file('broken.png', b'\x89PNG garbage'), match=r'cannot read image .*broken\.png', area='images'),
    Case('img_zero_byte_file', _bad_file('empty.jpg', b''), match=r'cannot read image .*empty\.jpg', area='images'),
    Case('img_text_named_jpg', _bad_file('notes.jpg', b'hello, I am text'), match=r'cannot read image .*notes\.jpg', area='images'),
    Case('img_truncated_png', _truncated, match=r'cut\.png', area='images'),
    Case('img_modes_extensions_hidden', _modes, expect='ok', area='images', check=lambda d: _total(d) == 24 and d.x_train.shape[1:] == (8, 8, 3)),
    Case('img_empty_class_folder', lambda tmp: (_folder(tmp/'imgs', n=6), (tmp/'imgs'/'c').mkdir(), image_folder(tmp/'imgs'))[-1],
         match=r'class folder .*c has no images', area='images'),
    Case('img_one_class', lambda tmp: image_folder(_folder(tmp/'imgs', n=10, classes=('a',))), match=r'1 class.*at least 2', area='images'),
    Case('img_empty_root', lambda tmp: (tmp/'imgs').mkdir() or image_folder(tmp/'imgs'), match=r'no class sub-folders', area='images'),
    Case('img_path_is_file', lambda tmp: image_folder(_save(tmp/'one.png', np.zeros((8, 8, 3), np.uint8))),
         exc=NotADirectoryError, match=r'one\.png is a file', area='images'),
    Case('img_path_missing', lambda tmp: image_folder(tmp/'nowhere'), exc=FileNotFoundError, match=r'nowhere.*does not exist', area='images'),
    Case('img_one_per_class', _if(n=1, size=8), match=r'each class needs at least 3', area='images'),
    Case('img_two_per_class', _if(n=2, size=8), match=r'each class needs at least 3', area='images'),
    Case('img_three_per_class_warns', _if(n=3, size=8), expect='warn', match=r'test split holds 1 example: an accuracy on one item means nothing',
         area='images', check=lambda d: len(d.y_test) == 1),
    Case('img_size_0', _if(size=0), match=r'size ' + WHOLE + r' from 1 to 4096', area='images'),
    Case('img_size_negative', _if(size=-8), match=r'size ' + WHOLE, area='images'),
    Case('img_size_float', _if(size=16.0), match=r'size ' + WHOLE, area='images'),
    Case('img_size_huge', _if(n=3, size=4097), match=r'size ' + WHOLE + r' from 1 to 4096', area='images'),
    Case('img_size_numpy_int', _if(n=20, size=np.int64(8)), expect='ok', area='images', check=lambda d: d.x_train.shape[1:] == (8, 8, 3) and _total(d) == 40),
    Case('img_misspelt_option', _if(size=8, n_per_clas=3), exc=TypeError, match=r'n_per_clas', area='images'),
    Case('img_test_pct_0', _if(size=8, test_pct=0), match=r'test_pct must be a fraction', area='images'),
    Case('img_n_test_0', _if(n=20, size=8, n_test=0), match=r'n_test ' + WHOLE + r' >= 1', area='images'),
    Case('img_valid_pct_tiny', _if(n=6, size=8, valid_pct=0.01), match=r'imgs: the valid split is empty; raise valid_pct', area='images'),
    Case('img_test_folder_one_image', lambda tmp: image_folder(_train_test(tmp, test=('a',), n_test=1), size=8), expect='warn',
         match=r'imgs: the test split holds 1 example: an accuracy on one item means nothing', area='images', check=lambda d: d.y_test.tolist() == [0]),
    Case('img_path_none', lambda tmp: image_folder(None), exc=TypeError,
         match=r'image_folder: path must be a folder \(a str or pathlib\.Path\) holding one sub-folder of images per class, not None \(NoneType\)', area='images'),
    Case('img_path_int', lambda tmp: image_folder(123), exc=TypeError, match=r'path must be a folder .*not 123 \(int\)', area='images'),
    Case('img_path_empty_string', lambda tmp: image_folder(''), exc=TypeError, match=r"path must be a folder .*not '' \(str\)", area='images'),
    Case('img_path_list', lambda tmp: image_folder([tmp]), exc=TypeError, match=r'path must be a folder .*\(list\)', area='images'),
    Case('img_symlink_loop_to_itself', _linked('a/loop.png', 'loop.png'), match=r'imgs/a holds 1 symlink loop\(s\): \S+/a/loop\.png -> loop\.png; a link that leads back',
         area='images'),
    Case('img_symlink_loop_pair', lambda tmp: (_linked('a/x', 'y')(tmp, build=True), _linked('a/y', 'x')(tmp))[-1],
         match=r'imgs/a holds 2 symlink loop\(s\): \S+/a/x -> y, \S+/a/y -> x', area='images'),
    Case('img_symlink_to_parent', _linked('a/deeper/up', '../..'), match=r'imgs/a holds 1 symlink loop\(s\): \S+/a/deeper/up -> \.\./\.\.; a link that leads back to itself or to a folder above it', area='images'),
    Case('img_symlink_class_to_root', _linked('c', '.'), match=r'imgs holds 1 symlink loop\(s\): \S+/imgs/c -> \.', area='images'),
    Case('img_symlink_root_loop', lambda tmp: (tmp/'imgs').symlink_to('imgs') or image_folder(tmp/'imgs'),
         match=r'holds 1 symlink loop\(s\): \S+/imgs -> imgs', area='images'),
    Case('img_symlink_broken_image', _linked('a/gone.png', 'nowhere.png'), match=r'cannot read image \S+/a/gone\.png: FileNotFoundError', area='images'),
    Case('img_unreadable_class_folder', _unreadable('a'), match=r'cannot read 1 folder\(s\) in \S+/imgs/a: \S+/imgs/a: Permission denied; make them readable', area='images'),
    Case('img_unreadable_nested_folder', _unreadable('a/deeper'), match=r'cannot read 1 folder\(s\) in \S+/imgs/a: \S+/imgs/a/deeper: Permission denied', area='images'),
    Case('img_unreadable_root', _unreadable('.'), match=r'cannot read folder \S+/imgs: Permission denied; make it readable', area='images'),
    Case('img_unreadable_train_folder', _unreadable('train', split=True), match=r'cannot read folder \S+/imgs/train: Permission denied', area='images'),
]

# ---- to_image_tensor ----
_X = np.random.default_rng(0).integers(0, 256, (2, 8, 8), dtype=np.uint8)
CASES += [
    Case('tensor_float_input', lambda tmp: to_image_tensor(_X / 255, 8), match=r'expected uint8 images.*float', area='tensors'),
    Case('tensor_bool_input', lambda tmp: to_image_tensor(_X > 100, 8), match=r'expected uint8 images', area='tensors'),
    Case('tensor_int_out_of_range', lambda tmp: to_image_tensor(_X.astype(np.int64) * 4, 8), match=r'expected uint8 images \(0-255\)', area='tensors'),
    Case('tensor_int_in_range', lambda tmp: to_image_tensor(_X.astype(np.int64), 8), expect='ok', area='tensors',
         check=lambda t: t.shape == (2, 3, 8, 8) and np.array_equal(t.numpy(), to_image_tensor(_X, 8).numpy())),
    Case('tensor_size_0', lambda tmp: to_image_tensor(_X, 0), match=r'size ' + WHOLE, area='tensors'),
    Case('tensor_size_float', lambda tmp: to_image_tensor(_X, 7.5), match=r'size ' + WHOLE, area='tensors'),
    Case('tensor_2d_input', lambda tmp: to_image_tensor(_X[0], 8), match=r'expected images shaped', area='tensors'),
    Case('tensor_channels_first', lambda tmp: to_image_tensor(np.zeros((2, 3, 8, 8), np.uint8), 8), match=r'channels last', area='tensors'),
    Case('tensor_zero_std', lambda tmp: to_image_tensor(_X, 8, ((0.5,) * 3, (0.0,) * 3)), match=r'stats.*std > 0', area='tensors'),
    Case('tensor_bad_stats', lambda tmp: to_image_tensor(_X, 8, (0.5,)), match=r'stats must be \(mean, std\)', area='tensors'),
    Case('tensor_strings', lambda tmp: to_image_tensor(['a', 'b'], 8), match=r'expected', area='tensors'),
    Case('tensor_empty_batch', lambda tmp: to_image_tensor(np.zeros((0, 8, 8), np.uint8), 4), expect='ok', area='tensors',
         check=lambda t: tuple(t.shape) == (0, 3, 4, 4)),
    Case('dls_bs_0', lambda tmp: image_dls(_digits(), size=8, bs=0), match=r'bs ' + WHOLE + r' >= 1', area='tensors'),
    Case('dls_bs_float', lambda tmp: image_dls(_digits(), size=8, bs=16.0), match=r'bs ' + WHOLE, area='tensors'),
    Case('dls_size_0', lambda tmp: image_dls(_digits(), size=0, bs=8).one_batch(), match=r'size ' + WHOLE, area='tensors'),
    Case('dls_bs_numpy_int', lambda tmp: image_dls(_digits(), size=8, bs=np.int64(8)).one_batch(), expect='ok', area='tensors',
         check=lambda b: tuple(b[0].shape) == (8, 3, 8, 8) and tuple(b[1].shape) == (8,)),
    Case('dl_unknown_split', lambda tmp: image_dl(_digits(), 'testing', size=8), match=r"'train', 'valid' or 'test'", area='tensors'),
    Case('dls_on_text_splits', lambda tmp: image_dls(_text_splits(), size=8), match=r'not images', area='tensors'),
    Case('tensor_one_channel_last', lambda tmp: to_image_tensor(_X[..., None], 4), expect='ok', area='tensors',
         check=lambda t: np.array_equal(t.numpy(), to_image_tensor(_X, 4).numpy())),
]

# ---- tables of texts ----
def _tf_csv(data, **kw): return lambda tmp: text_frame(_csv(tmp, data), **kw)
def _tf(df, **kw): return lambda tmp: text_frame(df, **kw)

def _mixed_labels():
    df = _texts(30); df['label'] = [1, '1', 2] * 20
    return df

def _nan_rows(col):
    df = _texts(30); df.loc[[0, 5], col] = np.nan
    return df

def _float_labels(tmp):
    p = _csv(tmp, b'text,label\n' + b''.join(f'good film {i},1\nbad film {i},0\n'.encode() for i in range(30)) + b'no label here,\n')
    return text_frame(p)

def _bom(tmp):
    return text_frame(_csv(tmp, b'\xef\xbb\xbftext,label\n' + _good_csv_rows(30)))

def _labels(values, n=60):
    return pd.DataFrame(dict(text=[f'film {i}' for i in range(n)], label=[values[i % len(values)] for i in range(n)]))

def _texts_of(d): return list(np.concatenate([d.x_train, d.x_valid, d.x_test]))

def _dup_cols():
    df = _texts(30); return pd.concat([df, df[['text']]], axis=1)

CASES += [
    Case('text_labels_1_and_str_1', _tf(_mixed_labels()), match=r"labels 1 and '1'.*astype\(str\)", area='text'),
    Case('text_csv_zero_bytes', _tf_csv(b''), match=r't\.csv is empty \(0 bytes\)', area='text'),
    Case('text_csv_blank_lines', _tf_csv(b'\n\n\n'), match=r't\.csv has no columns', area='text'),
    Case('text_csv_binary', _tf_csv(b'\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR' + bytes(range(256)) * 4), match=r't\.csv is not a CSV text file', area='text'),
    Case('text_csv_utf16', _tf_csv('text,label\nhi,a\n'.encode('utf-16')), match=r't\.csv .*UTF-16', area='text'),
    Case('text_csv_bad_quotes', _tf_csv(b'text,label\n"unterminated quote,pos\n' + _good_csv_rows()), match=r'cannot parse CSV file .*t\.csv.*quot',
         area='text'),
    Case('text_csv_extra_fields', _tf_csv(b'text,label\n' + _good_csv_rows(5) + b'an, unquoted, comma,pos\n' + _good_csv_rows(5)),
         match=r'cannot parse CSV file .*t\.csv', area='text'),
    Case('text_csv_semicolons', _tf_csv(b'text;label\n' + _good_csv_rows().replace(b',', b';')), match=r"column 'text' not found in .*t\.csv.*sep",
         area='text'),
    Case('text_csv_missing_column', _tf_csv(b'text,label\n' + _good_csv_rows(), text_col='review'),
         match=r"column 'review' not found in .*t\.csv; the columns are \['text', 'label'\]", area='text'),
    Case('text_df_missing_label_column', _tf(_texts(30), label_col='sentiment'), match=r"column 'sentiment' not found; the columns are", area='text'),
    Case('text_csv_is_folder', lambda tmp: text_frame(tmp), exc=IsADirectoryError, match=r'is a folder, not a CSV file', area='text'),
    Case('text_csv_missing', lambda tmp: text_frame(tmp/'none.csv'), exc=FileNotFoundError, match=r'none\.csv does not exist', area='text'),
    Case('text_not_a_table', lambda tmp: text_frame([('a film', 'pos')] * 30), exc=TypeError, match=r'DataFrame or the path of a CSV', area='text'),
    Case('text_same_column_twice', _tf(_texts(30), text_col='label'), match=r"both 'label'", area='text'),
    Case('text_duplicate_column_names', _tf(_dup_cols()), match=r"2 columns named 'text'", area='text'),
    Case('text_nan_texts_warn', _tf(_nan_rows('text')), expect='warn', match=r"dropped 2 of 60 rows: 2 with an empty or missing 'text'", area='text'),
    Case('text_nan_labels_warn', _tf(_nan_rows('label')), expect='warn', match=r"dropped 2 of 60 rows.*2 with a missing 'label'", area='text'),
    Case('text_empty_strings_warn', _tf(_texts(30).assign(text=lambda d: d.text.where(d.index % 20 != 0, '   '))), expect='warn',
         match=r'dropped 3 of 60 rows', area='text'),
    Case('text_all_texts_empty', _tf(_texts(30).assign(text='')), match=r'no row has both a text and a label', area='text'),
    Case('text_header_only_csv', _tf_csv(b'text,label\n'), match=r'has no rows', area='text'),
    Case('text_every_label_unique', _tf(pd.DataFrame(dict(text=[f'text {i}' for i in range(40)], label=range(40)))),
         match=r'too few examples.*is that really the label column', area='text'),
    Case('text_float_labels_from_blanks', _float_labels, expect='ok', area='text',
         check=lambda d: d.classes == ['0', '1'] and _total(d) == 60),
    Case('text_utf8_bom', _bom, expect='ok', area='text', check=lambda d: d.classes == ['neg', 'pos'] and _total(d) == 60),
    Case('text_numeric_texts', _tf(pd.DataFrame(dict(text=range(60), label=['odd', 'even'] * 30))), expect='ok', area='text',
         check=lambda d: d.classes == ['even', 'odd'] and sorted(_texts_of(d), key=int) == [str(i) for i in range(60)]),
    Case('text_latin1_bytes', _tf_csv(b'text,label\n' + _good_csv_rows(20) + b'caf\xe9 cr\xe8me,pos\n'), expect='ok', area='text',
         check=lambda d: _total(d) == 41 and sum(t.startswith('caf') and t.endswith('me') for t in _texts_of(d)) == 1),
    Case('text_list_labels', _tf(_labels([['pos'], ['neg']])),
         match=r"column 'label' holds labels that are not single values, e\.g\. \['pos'\] \(list\) in row 0: each row needs one label", area='text'),
    Case('text_list_labels_csv_column_name', _tf(_labels([['pos'], ['neg']]).rename(columns={'label': 'tags'}), label_col='tags'),
         match=r"column 'tags' holds labels that are not single values", area='text'),
    Case('text_dict_labels', _tf(_labels(['pos', {'y': 1}])), match=r"column 'label' holds labels that are not single values, e\.g\. \{'y': 1\} \(dict\) in row 1", area='text'),
    Case('text_array_labels', _tf(_labels([np.array([0, 1]), np.array([1, 0])])), match=r"column 'label' holds labels that are not single values.*\(ndarray\)", area='text'),
    Case('text_tuple_labels_are_values', _tf(_labels([('a', 1), ('b', 2)])), expect='ok', area='text',
         check=lambda d: d.classes == ["('a', 1)", "('b', 2)"] and _total(d) == 60),
    Case('text_valid_pct_tiny', _tf(_texts(30), valid_pct=0.001), match=r'texts: the valid split is empty; raise valid_pct', area='text'),
    Case('text_one_test_item', _tf(_texts(3)), expect='warn', match=r'texts: the test split holds 1 example: an accuracy on one item means nothing',
         area='text', check=lambda d: len(d.y_test) == 1),
    Case('text_n_test_0', _tf(_texts(30), n_test=0), match=r'n_test ' + WHOLE + r' >= 1', area='text'),
    Case('text_n_per_class_str', _tf(_texts(30), n_per_class='3'), match=r'n_per_class ' + WHOLE, area='text'),
    Case('text_valid_pct_above_1', _tf(_texts(30), valid_pct=1.5), match=r'valid_pct must be a fraction', area='text'),
    Case('text_misspelt_option', _tf(_texts(30), nvalid=10), exc=TypeError, match=r'nvalid', area='text'),
    Case('text_two_rows_per_class', _tf(_texts(2)), match=r'each class needs at least 3', area='text'),
]

# ---- tokenizer and the text task ----
def _long_text_task(tmp):
    "max_len past the encoder's 512 positions: refused before any work (it used to fail deep inside transformers)."
    df = pd.DataFrame(dict(text=['word ' * 700] * 60, label=['a', 'b'] * 30))
    task = _TextTask(text_frame(df), 'all-MiniLM-L6-v2', max_len=600, bs=4)
    task.features('test')

CASES += [
    Case('task_max_len_above_model', _long_text_task, match=r'max_len=600 is more than .*512 positions.*max_len <= 512', area='text'),
    Case('task_max_len_0', lambda tmp: _text_task(max_len=0), match=r'max_len ' + WHOLE + r' >= 3', area='text'),
    Case('task_max_len_negative', lambda tmp: _text_task(max_len=-5), match=r'max_len ' + WHOLE, area='text'),
    Case('task_max_len_float', lambda tmp: _text_task(max_len=32.0), match=r'max_len ' + WHOLE, area='text'),
    Case('task_max_len_nan', lambda tmp: _text_task(max_len=float('nan')), match=r'max_len ' + WHOLE, area='text'),
    Case('task_max_len_bool', lambda tmp: _text_task(max_len=True), match=r'max_len ' + WHOLE, area='text'),
    Case('task_max_len_512', lambda tmp: _text_task(max_len=512).ids('valid'), expect='ok', area='text',
         check=lambda ids: len(ids) == len(_text_splits().y_valid) and all(2 < len(i) <= 512 for i in ids)),
    Case('task_max_len_numpy_int', lambda tmp: _text_task(max_len=np.int64(4)).ids('valid'), expect='ok', area='text',
         check=lambda ids: len(ids) == len(_text_splits().y_valid) and all(len(i) == 4 for i in ids)),
    Case('task_bs_0', lambda tmp: _text_task(bs=0), match=r'bs ' + WHOLE + r' >= 1', area='text'),
    Case('task_splits_none', lambda tmp: _TextTask(None),
         exc=TypeError, match=r'DataSplits', area='text'),
    Case('task_on_image_splits', lambda tmp: _TextTask(load_data('uci_digits', n_per_class=5)),
         match=r'text backbone', area='text'),
    Case('tokenize_single_string', lambda tmp: _tokenize(_tok(), 'one review', 16),
         exc=TypeError, match=r'list of strings.*\[text\]', area='text'),
    Case('tokenize_max_len_huge', lambda tmp: _tokenize(_tok(), ['a'], 100_000),
         match=r'max_len <= 512', area='text'),
    Case('tokenize_max_len_2', lambda tmp: _tokenize(_tok(), ['a'], 2),
         match=r'max_len ' + WHOLE + r' >= 3', area='text'),
    Case('tokenize_none_and_nan', lambda tmp: _tokenize(_tok(), [None, float('nan'), '', 'ok'], 8),
         expect='ok', area='text', check=lambda ids: [len(i) for i in ids] == [2, 2, 2, 3] and ids[0] == ids[1] == ids[2]),
    Case('tokenize_empty_list', lambda tmp: _tokenize(_tok(), [], 8), expect='ok', area='text', check=lambda ids: ids == []),
]

@pytest.mark.parametrize('case', fuzz_params(CASES))
def test_fuzz(case, tmp_path): check(case, tmp_path)

def test_ok_cases_check_their_result():
    "Not raising is not enough: every 'ok' case checks what it returned."
    assert [c.id for c in CASES if c.expect == 'ok' and c.check is None] == []

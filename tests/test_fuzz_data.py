"Fuzzing the data layer: bad or edge-case inputs to the loaders, image folders, tables, tensors and the text task (offline)."
import os
for k in ('FTLEARN_OFFLINE', 'HF_HUB_OFFLINE', 'TRANSFORMERS_OFFLINE'): os.environ.setdefault(k, '1')
import struct, zlib
from functools import cache
from pathlib import Path
import numpy as np, pandas as pd, pytest
from PIL import Image
from fuzzlib import Case, check, fuzz_params
from ftlearn.data.datasets import load_data
from ftlearn.data.core import make_splits
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

def _ramp(dtype, lo, hi, n=16):
    return np.linspace(lo, hi, n)[None].repeat(n, 0).astype(dtype)

# ---- load_data and make_splits: counts, fractions, seeds ----
def _ld(**kw): return lambda tmp: load_data('uci_digits', **kw)
def _toy(n=30, k=3, **kw):
    return lambda tmp: make_splits('toy', 'image', [f'c{i}' for i in range(k)], np.zeros((n * k, 4, 4), np.uint8), np.repeat(np.arange(k), n), **kw)

WHOLE = r'must be a whole number'
CASES = [
    Case('load_n_test_0', _ld(n_test=0), match=r'n_test ' + WHOLE + r' >= 1', area='loaders'),
    Case('load_n_valid_0', _ld(n_valid=0), match=r'n_valid ' + WHOLE + r' >= 1', area='loaders'),
    Case('load_n_test_negative', _ld(n_test=-5), match=r'n_test ' + WHOLE, area='loaders'),
    Case('load_n_valid_float', _ld(n_valid=10.5), match=r'n_valid ' + WHOLE, area='loaders'),
    Case('load_n_test_bool', _ld(n_test=True), match=r'n_test ' + WHOLE, area='loaders'),
    Case('load_n_test_str', _ld(n_test='100'), match=r'n_test ' + WHOLE, area='loaders'),
    Case('load_n_test_numpy_int', _ld(n_test=np.int64(100), n_valid=np.int32(100)), expect='ok', area='loaders'),
    Case('load_n_per_class_numpy_int', _ld(n_per_class=np.int32(5), n_valid=100, n_test=100), expect='ok', area='loaders'),
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
    Case('load_frac_1', _ld(frac=1), expect='ok', area='loaders'),
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
    Case('splits_ok', _toy(), expect='ok', area='loaders'),
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
         expect='ok', area='loaders'),
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
    d = image_folder(root, size=8)
    assert len(d.y_train) + len(d.y_valid) + len(d.y_test) == 30, 'nested images were ignored'
    assert d.classes == ['a', 'b']

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
    d = image_folder(root, size=8)
    assert len(d.y_train) + len(d.y_valid) + len(d.y_test) == 24 and d.x_train.shape[1:] == (8, 8, 3)

def _deep(dtype, lo, hi, fmt='PNG', expect=(0, 255)):
    def run(tmp):
        root = _folder(tmp/'imgs', n=20)
        _save(root/'a'/f'deep.{"tif" if fmt == "TIFF" else "png"}', _ramp(dtype, lo, hi), format=fmt)
        d = image_folder(root, size=16)
        _ramp_survives(d, *expect)
    return run

def _if(n=6, **kw): return lambda tmp: image_folder(_folder(tmp/'imgs', n=n), **kw)

CASES += [
    Case('img_16bit_png_gradient', _deep(np.uint16, 0, 65535), expect='ok', area='images'),
    Case('img_16bit_png_dark', _deep(np.uint16, 0, 30000, expect=(0, 117)), expect='ok', area='images'),
    Case('img_32bit_int_tiff', _deep(np.int32, 0, 2_000_000, 'TIFF'), expect='ok', area='images'),
    Case('img_32bit_int_tiff_negative', _deep(np.int32, -1000, 1000, 'TIFF'), expect='ok', area='images'),
    Case('img_float_tiff_unit', _deep(np.float32, 0, 1, 'TIFF'), expect='ok', area='images'),
    Case('img_float_tiff_wide_range', _deep(np.float32, -5, 5, 'TIFF'), expect='ok', area='images'),
    Case('img_decompression_bomb', _bomb(20000, 20000), match=r'bomb\.png.*too large', area='images'),
    Case('img_decompression_bomb_warning_size', _bomb(10000, 10000), match=r'bomb\.png.*too large', area='images'),
    Case('img_nested_subfolders', _nested, expect='ok', area='images'),
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
    Case('img_modes_extensions_hidden', _modes, expect='ok', area='images'),
    Case('img_empty_class_folder', lambda tmp: (_folder(tmp/'imgs', n=6), (tmp/'imgs'/'c').mkdir(), image_folder(tmp/'imgs'))[-1],
         match=r'class folder .*c has no images', area='images'),
    Case('img_one_class', lambda tmp: image_folder(_folder(tmp/'imgs', n=10, classes=('a',))), match=r'1 class.*at least 2', area='images'),
    Case('img_empty_root', lambda tmp: (tmp/'imgs').mkdir() or image_folder(tmp/'imgs'), match=r'no class sub-folders', area='images'),
    Case('img_path_is_file', lambda tmp: image_folder(_save(tmp/'one.png', np.zeros((8, 8, 3), np.uint8))),
         exc=NotADirectoryError, match=r'one\.png is a file', area='images'),
    Case('img_path_missing', lambda tmp: image_folder(tmp/'nowhere'), exc=FileNotFoundError, match=r'nowhere.*does not exist', area='images'),
    Case('img_one_per_class', _if(n=1, size=8), match=r'each class needs at least 3', area='images'),
    Case('img_two_per_class', _if(n=2, size=8), match=r'each class needs at least 3', area='images'),
    Case('img_three_per_class_warns', _if(n=3, size=8), expect='warn', match=r'only \d+ test examples', area='images'),
    Case('img_size_0', _if(size=0), match=r'size ' + WHOLE + r' from 1 to 4096', area='images'),
    Case('img_size_negative', _if(size=-8), match=r'size ' + WHOLE, area='images'),
    Case('img_size_float', _if(size=16.0), match=r'size ' + WHOLE, area='images'),
    Case('img_size_huge', _if(n=3, size=4097), match=r'size ' + WHOLE + r' from 1 to 4096', area='images'),
    Case('img_size_numpy_int', _if(n=20, size=np.int64(8)), expect='ok', area='images'),
    Case('img_misspelt_option', _if(size=8, n_per_clas=3), exc=TypeError, match=r'n_per_clas', area='images'),
    Case('img_test_pct_0', _if(size=8, test_pct=0), match=r'test_pct must be a fraction', area='images'),
    Case('img_n_test_0', _if(n=20, size=8, n_test=0), match=r'n_test ' + WHOLE + r' >= 1', area='images'),
]

# ---- to_image_tensor ----
_X = np.random.default_rng(0).integers(0, 256, (2, 8, 8), dtype=np.uint8)
CASES += [
    Case('tensor_float_input', lambda tmp: to_image_tensor(_X / 255, 8), match=r'expected uint8 images.*float', area='tensors'),
    Case('tensor_bool_input', lambda tmp: to_image_tensor(_X > 100, 8), match=r'expected uint8 images', area='tensors'),
    Case('tensor_int_out_of_range', lambda tmp: to_image_tensor(_X.astype(np.int64) * 4, 8), match=r'expected uint8 images \(0-255\)', area='tensors'),
    Case('tensor_int_in_range', lambda tmp: to_image_tensor(_X.astype(np.int64), 8), expect='ok', area='tensors'),
    Case('tensor_size_0', lambda tmp: to_image_tensor(_X, 0), match=r'size ' + WHOLE, area='tensors'),
    Case('tensor_size_float', lambda tmp: to_image_tensor(_X, 7.5), match=r'size ' + WHOLE, area='tensors'),
    Case('tensor_2d_input', lambda tmp: to_image_tensor(_X[0], 8), match=r'expected images shaped', area='tensors'),
    Case('tensor_channels_first', lambda tmp: to_image_tensor(np.zeros((2, 3, 8, 8), np.uint8), 8), match=r'channels last', area='tensors'),
    Case('tensor_zero_std', lambda tmp: to_image_tensor(_X, 8, ((0.5,) * 3, (0.0,) * 3)), match=r'stats.*std > 0', area='tensors'),
    Case('tensor_bad_stats', lambda tmp: to_image_tensor(_X, 8, (0.5,)), match=r'stats must be \(mean, std\)', area='tensors'),
    Case('tensor_strings', lambda tmp: to_image_tensor(['a', 'b'], 8), match=r'expected', area='tensors'),
    Case('tensor_empty_batch', lambda tmp: to_image_tensor(np.zeros((0, 8, 8), np.uint8), 4), expect='ok', area='tensors'),
    Case('dls_bs_0', lambda tmp: image_dls(_digits(), size=8, bs=0), match=r'bs ' + WHOLE + r' >= 1', area='tensors'),
    Case('dls_bs_float', lambda tmp: image_dls(_digits(), size=8, bs=16.0), match=r'bs ' + WHOLE, area='tensors'),
    Case('dls_size_0', lambda tmp: image_dls(_digits(), size=0, bs=8).one_batch(), match=r'size ' + WHOLE, area='tensors'),
    Case('dls_bs_numpy_int', lambda tmp: image_dls(_digits(), size=8, bs=np.int64(8)).one_batch(), expect='ok', area='tensors'),
    Case('dl_unknown_split', lambda tmp: image_dl(_digits(), 'testing', size=8), match=r"'train', 'valid' or 'test'", area='tensors'),
    Case('dls_on_text_splits', lambda tmp: image_dls(_text_splits(), size=8), match=r'not images', area='tensors'),
    Case('tensor_one_channel_last', lambda tmp: to_image_tensor(_X[..., None], 4), expect='ok', area='tensors'),
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
    d = text_frame(p)
    assert d.classes == ['0', '1'], d.classes

def _bom(tmp):
    d = text_frame(_csv(tmp, b'\xef\xbb\xbftext,label\n' + _good_csv_rows(30)))
    assert d.classes == ['neg', 'pos']

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
    Case('text_float_labels_from_blanks', _float_labels, expect='ok', area='text'),
    Case('text_utf8_bom', _bom, expect='ok', area='text'),
    Case('text_numeric_texts', _tf(pd.DataFrame(dict(text=range(60), label=['odd', 'even'] * 30))), expect='ok', area='text'),
    Case('text_latin1_bytes', _tf_csv(b'text,label\n' + _good_csv_rows(20) + b'caf\xe9 cr\xe8me,pos\n'), expect='ok', area='text'),
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
    Case('task_max_len_512', lambda tmp: _text_task(max_len=512).ids('valid'), expect='ok', area='text'),
    Case('task_max_len_numpy_int', lambda tmp: _text_task(max_len=np.int64(16)).ids('valid'), expect='ok', area='text'),
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
         expect='ok', area='text'),
    Case('tokenize_empty_list', lambda tmp: _tokenize(_tok(), [], 8), expect='ok', area='text'),
]

@pytest.mark.parametrize('case', fuzz_params(CASES))
def test_fuzz(case, tmp_path): check(case, tmp_path)

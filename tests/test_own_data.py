"Own data that helps: every bad file reported at once or skipped, one-line warnings, --data-seed, --option, SIGTERM, file permissions."
import os, json, signal, time, warnings
for k in ('FTLEARN_OFFLINE', 'HF_HUB_OFFLINE', 'TRANSFORMERS_OFFLINE'): os.environ.setdefault(k, '1')
import numpy as np, pandas as pd, pytest
from pathlib import Path
from PIL import Image
from ftlearn.core import atomic_write
from ftlearn.data.datasets import load_data
from ftlearn.data.folders import image_folder, text_frame
from fuzzlib import unreadable
import ftlearn.cli as cli

def _folder(root, n=8, bad=()):
    sp = load_data('uci_digits')
    for c in range(3):
        (root/str(c)).mkdir(parents=True)
        for i, x in enumerate(sp.x_train[sp.y_train == c][:n]): Image.fromarray(x).save(root/str(c)/f'{i}.png')
    for f in bad: (root/f).write_bytes(b'not really an image')
    return root

def test_every_bad_file_reported_at_once_or_skipped(tmp_path):
    root = _folder(tmp_path/'d', bad=['0/broken.png', '2/half.jpg'])
    (root/'1'/'notes.txt').write_text('x'); (root/'1'/'labels.csv').write_text('x')
    with warnings.catch_warnings(): 
        warnings.simplefilter('ignore')
        with pytest.raises(ValueError) as e: image_folder(root, size=16)
    msg = str(e.value)
    assert msg.startswith('2 of 26 image file(s) cannot be read') and 'broken.png' in msg and 'half.jpg' in msg and '--skip-bad' in msg
    with pytest.warns(UserWarning) as w: d = image_folder(root, size=16, skip_bad=True)
    texts = [str(x.message) for x in w]
    assert sum('skipped 2 unreadable image file(s) of 26' in t for t in texts) == 1
    assert sum('ignored 2 file(s) that are not images' in t for t in texts) == 1
    assert len(d.y_train) + len(d.y_valid) + len(d.y_test) == 24

def test_fewer_than_asked_is_one_line():
    with pytest.warns(UserWarning) as w: load_data('uci_digits', n_per_class=500)
    few = [str(x.message) for x in w if 'fewer than the 500' in str(x.message)]
    assert len(few) == 1 and few[0].startswith('train: 10 class(es) have fewer') and "'0' has only" in few[0]

def test_cli_data_seed_skip_bad_and_options(tmp_path, capsys):
    root = _folder(tmp_path/'d', n=10, bad=['1/broken.png'])
    base = ['compare', '--data', str(root), '--strategies', 'pixel_logreg', '--size', '32', '--skip-bad', '--option', 'pixels=8']
    assert cli.main(base + ['--out', str(tmp_path/'a')]) == 0
    assert cli.main(base + ['--data-seed', '3', '--option', 'C=1', '--out', str(tmp_path/'b')]) == 0
    ra, rb = (json.loads(next((tmp_path/o/'runs').glob('*.json')).read_text()) for o in 'ab')
    assert ra['opts'] == {'pixels': 8} and rb['opts'] == {'pixels': 8, 'C': 1}
    assert ra['data_fingerprint'] != rb['data_fingerprint']   # another split
    assert 'C=1 chosen' in rb['notes']
    capsys.readouterr()
    for bad, msg in [(['--option', 'pixels'], 'NAME=VALUE'), (['--option', 'magic=1'], "unknown option 'magic'"), (['--data-seed', '-1'], '--data-seed')]:
        assert cli.main(base + bad + ['--out', str(tmp_path/'c')]) == 2
        err = capsys.readouterr().err
        assert 'ftlearn: error:' in err and msg in err and 'Traceback' not in err
        assert 'return make_splits' not in err   # warnings are one line each

def test_sigterm_says_finished_runs_are_saved(monkeypatch, capsys):
    def killed(args): os.kill(os.getpid(), signal.SIGTERM); time.sleep(5)
    monkeypatch.setattr(cli, 'compare_main', killed)
    before = signal.getsignal(signal.SIGTERM)
    assert cli.main(['compare']) == 143
    assert 'terminated; finished runs are saved' in capsys.readouterr().err
    assert signal.getsignal(signal.SIGTERM) == before

@pytest.mark.parametrize('mask,mode', [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_saved_files_follow_the_umask(tmp_path, mask, mode):
    old = os.umask(mask)
    try: p = atomic_write(tmp_path/'x.json', '{}')
    finally: os.umask(old)
    assert os.stat(p).st_mode & 0o777 == mode

def test_what_is_not_a_folder_or_cannot_be_walked_is_named(tmp_path):
    for bad, what in [(None, 'None'), (123, '123'), ('', "''")]:
        with pytest.raises(TypeError, match=rf'path must be a folder \(a str or pathlib\.Path\).*not {what}'): image_folder(bad)
    root = _folder(tmp_path/'d')
    (root/'1'/'again').symlink_to('..')
    with pytest.raises(ValueError, match=r'd/1 holds 1 symlink loop\(s\): .*d/1/again -> \.\.'): image_folder(root, size=16)
    (root/'1'/'again').unlink(); (root/'1'/'me.png').symlink_to('me.png')
    with pytest.raises(ValueError, match=r'me\.png -> me\.png; a link that leads back to itself'): image_folder(root, size=16)
    (root/'1'/'me.png').unlink()
    with unreadable(root/'2'):
        with pytest.raises(ValueError, match=r'cannot read 1 folder\(s\) in .*d/2: .*Permission denied; make them readable'): image_folder(root, size=16)
    with unreadable(root):
        with pytest.raises(ValueError, match=r'cannot read folder .*/d: Permission denied'): image_folder(root, size=16)
    assert image_folder(root, size=16).classes == ['0', '1', '2']    # readable again

def test_labels_that_are_lists_name_the_column():
    df = pd.DataFrame(dict(review=[f'film {i}' for i in range(30)], tags=[['good', 'long'], ['bad']] * 15))
    with pytest.raises(ValueError, match=r"column 'tags' holds labels that are not single values, e\.g\. \['good', 'long'\] \(list\) in row 0"):
        text_frame(df, text_col='review', label_col='tags')

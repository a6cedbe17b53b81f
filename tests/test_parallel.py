"""`compare(workers=...)` on a local two-worker Dask cluster (CPU): the serial table bit for bit, each record written once
(a record that appears meanwhile is left alone), a worker killed in the middle of a run loses nothing, and the command
line's `--workers`."""
import json, os, shutil, signal, threading, time
from pathlib import Path
import dask, numpy as np, pandas as pd, pytest, torch
from distributed import Client
from ftlearn.data.datasets import load_data
from ftlearn.models.features import FeatureCache
from ftlearn.tasks.core import make_task
from ftlearn.deploy import MODEL_FILE, load_model, load_probs
from ftlearn.cli import main
import ftlearn.compare as C
import ftlearn.parallel as P

KW = dict(strategies=['linear_probe', 'full_finetune'], seeds=[0, 1], steps=6, progress=False)   # 6 runs: 2 probe seeds, 3 rates, 1 more seed
COLS = ['strategy', 'seed', 'accuracy', 'valid_accuracy', 'lr', 'status', 'run']

@pytest.fixture(scope='module')
def splits(): return load_data('fashion_mnist', n_per_class=6, n_valid=30, n_test=40)

def _task(splits, folder):
    "The task, with a feature cache of its own: the workers compute their features themselves, not read the serial run's."
    return make_task(splits, 'efficientnet_lite0', size=32, bs=16, cache=FeatureCache(folder/'features'))

@pytest.fixture(scope='module')
def serial(splits, tmp_path_factory):
    "The serial table, at one torch thread like each worker (a sum over 2 threads can round differently)."
    out, threads = tmp_path_factory.mktemp('serial'), torch.get_num_threads()
    torch.set_num_threads(1)
    try: return C.compare(_task(splits, out), out=out, **KW), out
    finally: torch.set_num_threads(threads)

@pytest.fixture(scope='module')
def client():
    with P.local_cluster(2, threads=1) as cluster, Client(cluster) as c: yield c

@pytest.fixture
def writes(monkeypatch):
    "The names of the files this process writes through `compare` (records and probabilities, not its test of the folder); nothing may train here."
    log, once, atomic = [], P.write_once, C.atomic_write
    note = lambda path: Path(path).name.startswith('.') or log.append(Path(path).name)
    def logged_once(path, data):
        ok = once(path, data)
        if ok: note(path)
        return ok
    def logged_atomic(path, data): note(path); return atomic(path, data)
    monkeypatch.setattr(P, 'write_once', logged_once); monkeypatch.setattr(C, 'atomic_write', logged_atomic)
    monkeypatch.setattr(C, 'run_strategy', lambda *a, **k: pytest.fail('a run was trained in the calling process, not on a worker'))
    return log

def _same_as_serial(df, out, serial):
    ref, ref_out = serial
    pd.testing.assert_frame_equal(df[COLS].reset_index(drop=True), ref[COLS].reset_index(drop=True), check_exact=True)
    for r in ref.run: assert np.array_equal(load_probs(r, out)['probs'], load_probs(r, ref_out)['probs']), r

def _records(out): return sorted(p.name for p in (Path(out)/'runs').glob('*.json'))

def test_same_table_as_serial(splits, serial, client, tmp_path, writes, monkeypatch):
    df = C.compare(_task(splits, tmp_path), out=tmp_path, workers=client, **KW)
    _same_as_serial(df, tmp_path, serial)
    assert len(_records(tmp_path)) == 6
    assert sorted(n for n in writes if n.endswith('.json')) == _records(tmp_path)   # each record written once
    assert sorted(n for n in writes if n.endswith('.npz')) == [n.replace('.json', '.npz') for n in _records(tmp_path)]
    writes.clear()   # again: everything is on disk, so no worker starts and nothing is written
    monkeypatch.setattr(P, 'local_cluster', lambda *a, **k: pytest.fail('started workers for a comparison that was all on disk'))
    again = C.compare(_task(splits, tmp_path), out=tmp_path, workers=2, **KW)
    _same_as_serial(again, tmp_path, serial)
    assert writes == []

def test_record_written_meanwhile_is_kept(splits, serial, client, tmp_path, writes, monkeypatch):
    "A run recorded by another process while a worker trained it too: the record there stays, the worker's is dropped."
    ref_out, wait = serial[1], P.RunPool.wait
    def meanwhile(pool):
        got = wait(pool)
        for stem in got:   # another process finishes the same runs first
            rec = dict(json.loads((ref_out/'runs'/f'{stem}.json').read_text()), written_by='another process')
            (tmp_path/'runs'/f'{stem}.json').write_text(json.dumps(rec)); shutil.copy(ref_out/'runs'/f'{stem}.npz', tmp_path/'runs')
        return got
    monkeypatch.setattr(P.RunPool, 'wait', meanwhile)
    df = C.compare(_task(splits, tmp_path), out=tmp_path, workers=client, **dict(KW, strategies=['linear_probe']))
    assert len(df) == 2 and (df.written_by == 'another process').all()
    assert all(json.loads((tmp_path/'runs'/n).read_text())['written_by'] == 'another process' for n in _records(tmp_path))
    assert writes == []

def test_killed_worker_loses_nothing(splits, serial, client, tmp_path, writes):
    "SIGKILL the worker training a fine-tuning run, once a record is on disk: that run is trained again elsewhere, nothing recorded is touched."
    pids, runs, got = client.run(os.getpid), tmp_path/'runs', {}
    def grid():
        try: got['df'] = C.compare(_task(splits, tmp_path), out=tmp_path, workers=client.scheduler.address, **KW)   # a Client of its own
        except BaseException as e: got['error'] = e
    th = threading.Thread(target=grid); th.start()
    executing = lambda: client.run(lambda dask_worker: [str(ts.key) for ts in dask_worker.state.executing])
    victim, t0 = None, time.time()
    while th.is_alive() and victim is None and time.time() - t0 < 240:
        done = list(runs.glob('*.json')) if runs.exists() else []
        for addr, keys in executing().items():
            mid = [k for k in keys if k.startswith('full_finetune') and not (runs/f'{k}.json').exists()]
            if done and mid:
                before = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in done}
                os.kill(pids[addr], signal.SIGKILL); victim = (addr, mid[0]); break
        time.sleep(0.02)
    th.join(300)
    assert victim, "no fine-tuning run was caught running"
    assert 'error' not in got, got.get('error')
    _same_as_serial(got['df'], tmp_path, serial)
    assert f'{victim[1]}.json' in _records(tmp_path)                                            # the killed run, trained again
    assert all((p := runs/n).stat().st_ino == ino and p.stat().st_mtime_ns == t for n, (ino, t) in before.items())   # nothing recorded before was touched
    assert sorted(n for n in writes if n.endswith('.json')) == _records(tmp_path)               # every record written once
    client.wait_for_workers(2, timeout=60)
    assert pids[victim[0]] not in client.run(os.getpid).values()                               # the Nanny started a new worker

def test_kept_models(splits, client, tmp_path, writes):
    "keep='all': every run's model comes back and is saved under out/models; keep='best': only the best, in out/best."
    kw = dict(KW, strategies=['linear_probe'])
    df = C.compare(_task(splits, tmp_path), out=tmp_path/'all', workers=client, keep='all', **kw)
    assert all((tmp_path/'all'/'models'/r/MODEL_FILE).exists() for r in df.run)
    assert df.model_dir.tolist() == [str(tmp_path/'all'/'models'/r) for r in df.run]
    df = C.compare(_task(splits, tmp_path), out=tmp_path/'best', workers=client, keep='best', **kw)
    best = tmp_path/'best'/'best'
    assert json.loads((best/MODEL_FILE).read_text())['run'] == df.run[df.valid_accuracy.idxmax()]
    assert not (tmp_path/'best'/'models').exists()   # the others' models, sent back to choose from, are gone
    assert load_model(best).probs(splits.x_test[:3]).shape == (3, 10)

def test_a_run_that_kills_every_worker_fails(tmp_path):
    "A run whose worker dies more often than `allowed-failures` comes back as a RuntimeError saying so (compare records it as failed)."
    with dask.config.set({'distributed.scheduler.allowed-failures': 0}), P.local_cluster(1, threads=1) as cluster, Client(cluster) as c:
        pool = P.RunPool(c, lambda name: os._exit(1), None)
        pool.submit('doomed')
        got = pool.wait()['doomed']
        pool.close()
    assert isinstance(got, RuntimeError) and 'every worker that ran it died' in str(got)

def test_workers_from_a_number():
    "`workers=2` starts two worker processes here, each with its share of the cores, and stops them at the end."
    pool = P.RunPool(2, P.shipped, 'the task')
    pool.submit('a')
    assert pool.wait() == {'a': 'the task'}
    threads = pool.client.run(lambda: os.environ['OMP_NUM_THREADS'])
    assert list(threads.values()) == [str(max(1, os.cpu_count() // 2))] * 2
    cluster = pool.client.cluster
    pool.close()
    assert pool.client.status == 'closed' and cluster.status.name == 'closed'

def test_cli_workers(client, tmp_path, capsys, writes):
    "Bad `--workers` values are errors before any data loads; `--workers ADDRESS` runs the comparison on that cluster's workers."
    for bad, says in [('0', 'whole number >= 1'), ('two', 'number of worker processes'), ('tcp://127.0.0.1:1', 'cannot reach a Dask scheduler')]:
        assert main(['compare', '--workers', bad, '--out', str(tmp_path)]) == 2
        assert 'ftlearn: error:' in (err := capsys.readouterr().err) and says in err and 'Traceback' not in err, err
    address = client.scheduler.address
    assert main(['compare', '--strategies', 'linear_probe', '--seeds', '0,1', '--n-per-class', '5', '--size', '32', '--epochs', '1',
                 '--workers', address, '--out', str(tmp_path)]) == 0
    assert f'the Dask cluster at {address}' in capsys.readouterr().out
    df = pd.read_csv(tmp_path/'results.csv')
    assert df.seed.tolist() == [0, 1] and (df.status == 'ok').all()
    assert sorted(n for n in writes if n.endswith('.json')) == _records(tmp_path)   # trained on the workers, recorded once

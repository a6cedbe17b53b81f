"""The fuzz harness: bad or edge-case inputs, each with the answer a user should get.

A `Case` names one input and what must happen: `expect='error'` (an exception of type `exc` whose message matches
`match`, i.e. names the user's mistake), `expect='warn'` (it runs, and a warning matching `match` says why the
result is suspicious) or `expect='ok'` (an edge case that must work and give the right answer). `run(tmp)` does the
input in a fresh temporary folder and returns its result; `check(result)` says whether that result is right (it fails
by raising `AssertionError` or returning a false value). Every 'ok' case has a `check`: not raising is not enough.
The test files turn a list of cases into pytest cases with `fuzz_params`; `bench/fuzz.py` runs the same lists and
counts outcomes (clear error / handled / deep / silent / hang) on any checkout."""
from __future__ import annotations
import errno, io, os, re, signal, sys, warnings, contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Any

@dataclass
class Case:
    id: str
    run: Callable[[Path], Any]
    expect: str = 'error'          # 'error' | 'warn' | 'ok'
    exc: type | tuple = ValueError
    match: str = ''                # regex, case-insensitive, searched in the message
    area: str = ''                 # loaders, tasks, strategies, compare, cli, environment, ...
    check: Callable[[Any], Any] | None = None   # is `run`'s result right? (expect 'ok' or 'warn')

def verify(case: Case, result):
    "Apply `case.check` to what `case.run` returned; an `AssertionError` (a wrong result) when it fails."
    if case.check is None: return result
    ok = case.check(result)
    if ok is not None and not ok:
        r = repr(result); raise AssertionError(f"{case.id}: wrong result: {r[:200]}{'...' if len(r) > 200 else ''}")
    return result

class CLIError(Exception):
    "`ftlearn` exited non-zero; the message is what it printed on stderr."

def cli(*argv):
    "Run `ftlearn argv...` in this process; raise `CLIError(stderr)` on a non-zero exit, else return stdout."
    from ftlearn.cli import main
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try: rc = main([str(a) for a in argv])
        except SystemExit as e: rc = e.code if isinstance(e.code, int) else 1
    if rc: raise CLIError(f"exit {rc}: {err.getvalue()}")
    return out.getvalue()

def check(case: Case, tmp: Path):
    "Assert `case`'s expectation (for pytest)."
    import pytest
    if case.expect == 'error':
        with pytest.raises(case.exc) as ei: case.run(tmp)
        msg = str(ei.value)
        assert re.search(case.match, msg, re.I | re.S), f"message does not name the mistake ({case.match!r}): {msg!r}"
        assert 'Traceback' not in msg, f"a traceback reached the user: {msg!r}"
    elif case.expect == 'warn':
        with warnings.catch_warnings(record=True) as ws:
            warnings.simplefilter('always'); result = case.run(tmp)
        msgs = [str(w.message) for w in ws]
        assert any(re.search(case.match, m, re.I | re.S) for m in msgs), f"no warning matching {case.match!r}; got {msgs}"
        verify(case, result)
    else:
        assert case.check is not None, f"{case.id}: an 'ok' case must check its result (check=...)"
        verify(case, case.run(tmp))

def fuzz_params(cases):
    "pytest parameters (with ids) for a list of cases."
    import pytest
    ids = [f"{c.area}-{c.id}" if c.area else c.id for c in cases]
    dup = {i for i in ids if ids.count(i) > 1}
    assert not dup, f'duplicate case ids: {dup}'
    return [pytest.param(c, id=i) for c, i in zip(cases, ids)]

class _Hang(Exception): pass

def outcome(case: Case, tmp: Path, timeout: int = 120) -> tuple[str, str]:
    "Classify what `case` does now: ('clear'|'handled'|'deep'|'silent'|'hang', detail)."
    def _alarm(*_): raise _Hang()
    old = signal.signal(signal.SIGALRM, _alarm); signal.alarm(timeout)
    try:
        with warnings.catch_warnings(record=True) as ws, contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter('always'); result = case.run(tmp)
            if case.expect != 'error': verify(case, result)
    except _Hang: return 'hang', f'> {timeout} s'
    except BaseException as e:
        if isinstance(e, KeyboardInterrupt): raise
        msg = f"{type(e).__name__}: {e}"
        if isinstance(e, AssertionError): return 'silent', 'wrong result: ' + msg[:200]
        ok = isinstance(e, case.exc) and re.search(case.match, str(e), re.I | re.S) and 'Traceback' not in str(e)
        if case.expect == 'error' and ok: return 'clear', msg[:200]
        return 'deep', msg[:200]
    finally:
        signal.alarm(0); signal.signal(signal.SIGALRM, old)
    msgs = [str(w.message) for w in ws]
    if case.expect == 'ok': return 'handled', 'ran, result checked' if case.check else 'ran, result not checked'
    if case.expect == 'warn' and any(re.search(case.match, m, re.I | re.S) for m in msgs): return 'handled', 'warned'
    return 'silent', ('warnings: ' + '; '.join(msgs)[:200]) if msgs else 'no error, no warning'

_TASK = {}
def small_task(size=32, bs=16):
    "A tiny real task (Fashion-MNIST, 6 images per class, through the embedded EfficientNet-Lite0), built once."
    if (size, bs) not in _TASK:
        from ftlearn.data.datasets import load_data
        from ftlearn.tasks.core import make_task
        _TASK[size, bs] = make_task(load_data('fashion_mnist', n_per_class=6, n_valid=30, n_test=40), 'efficientnet_lite0', size=size, bs=bs)
    return _TASK[size, bs]

@contextlib.contextmanager
def env(**kv):
    "Environment variables set (None: removed) for the duration."
    import os
    old = {k: os.environ.get(k) for k in kv}
    for k, v in kv.items():
        if v is None: os.environ.pop(k, None)
        else: os.environ[k] = str(v)
    try: yield
    finally:
        for k, v in old.items():
            if v is None: os.environ.pop(k, None)
            else: os.environ[k] = v

@contextlib.contextmanager
def unreadable(folder):
    "`folder` cannot be listed for the duration: mode 000, and `os.scandir` / `os.listdir` refusing it as well, since chmod does not stop root (who runs the tests)."
    folder = os.path.abspath(folder)
    real = dict(scandir=os.scandir, listdir=os.listdir)
    def deny(name):
        def f(p='.'):
            if not isinstance(p, int) and os.path.abspath(p) == folder: raise PermissionError(errno.EACCES, 'Permission denied', str(p))
            return real[name](p)
        return f
    mode = os.stat(folder).st_mode & 0o7777
    os.chmod(folder, 0)
    try:
        from unittest import mock
        with mock.patch.object(os, 'scandir', deny('scandir')), mock.patch.object(os, 'listdir', deny('listdir')): yield
    finally: os.chmod(folder, mode)

@contextlib.contextmanager
def attr(obj, **kv):
    "Attributes of `obj` set for the duration (e.g. a module's constant read at import time)."
    old = {k: getattr(obj, k) for k in kv}
    for k, v in kv.items(): setattr(obj, k, v)
    try: yield
    finally:
        for k, v in old.items(): setattr(obj, k, v)

"""The fuzz harness: bad or edge-case inputs, each with the answer a user should get.

A `Case` names one input and what must happen: `expect='error'` (an exception of type `exc` whose message matches
`match`, i.e. names the user's mistake), `expect='warn'` (it runs, and a warning matching `match` says why the
result is suspicious) or `expect='ok'` (an edge case that must simply work). `run(tmp)` does the input in a fresh
temporary folder. The test files turn a list of cases into pytest cases with `fuzz_params`; `bench/fuzz.py` runs the
same lists and counts outcomes (clear error / handled / deep / silent / hang) on any checkout."""
from __future__ import annotations
import io, re, signal, sys, warnings, contextlib
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
            warnings.simplefilter('always'); case.run(tmp)
        msgs = [str(w.message) for w in ws]
        assert any(re.search(case.match, m, re.I | re.S) for m in msgs), f"no warning matching {case.match!r}; got {msgs}"
    else:
        case.run(tmp)

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
            warnings.simplefilter('always'); case.run(tmp)
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
    if case.expect == 'ok': return 'handled', 'ran'
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

"""Every course lesson runs top to bottom headless, offline, in small mode, in a fresh process and a fresh run folder,
and reproduces the key table saved in the committed notebook.

A lesson marks its key result by tagging the code cell that shows it `key-table` (cell metadata `tags`). After the run,
the numbers in that cell's fresh output must match the numbers in its committed output within the tolerance below, so
a library change that moves a lesson's result fails here until the lesson is re-executed and committed again.
Keep run times, latencies and other wall-clock numbers out of a tagged cell: they never reproduce.
"""
import math, os, re, signal, subprocess, sys
from difflib import unified_diff
from pathlib import Path
import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
LESSONS = sorted(p for p in (ROOT/'course').glob('*.ipynb') if not p.name.startswith('_'))
TIMEOUT = 1800        # seconds for a whole lesson
KEY_TAG = 'key-table'

# Tolerance for a key-table number: saved a, fresh b pass when abs(a - b) <= ABS_TOL + REL_TOL * abs(a).
# The lessons are seeded, and executing one twice on the same kind of CPU was measured to reproduce it bit for bit
# (there is no run-to-run noise to allow for), so the tolerance only has to cover floating-point differences between
# machines (another CPU, BLAS or thread count) and the rounding of printed tables. ABS_TOL is 1.5 points of accuracy,
# well under the >= 5-point regression this test must catch (0.772 -> 0.722 fails, 0.772 -> 0.775 passes).
# Percentages are compared as fractions (65.7% is 0.657), so ABS_TOL means 1.5 points there too.
ABS_TOL = 0.015
REL_TOL = 0.02

# ---------------------------------------------------------------------------------------------------------------------
# Numbers in a cell's output, and the comparison of a saved output with a fresh one (pure functions, unit-tested below)

_NUM = re.compile(r"""(?<![\w.])                       # not the tail of a name or a version: noise3, blocks.0, fp32
    (?: (?P<num> -? (?: (?:\d{1,3}(?:,\d{3})+(?!\d) | \d+) (?:\.\d*)? | \.\d+ ) (?:[eE][-+]?\d+)? ) (?P<pct>%)?
      | (?P<special> -?(?:nan|NaN|inf)) \b )""", re.X)
_ANSI = re.compile(r'\x1b\[[0-9;]*[A-Za-z]')

def _text(x): return ''.join(x) if isinstance(x, list) else (x or '')

def output_text(cell) -> str:
    "The text a reader sees from a code cell: `text/plain` of its results and displays, and what it printed to stdout"
    parts = []
    for o in cell.get('outputs', []):
        if o.get('output_type') in ('execute_result', 'display_data'): parts.append(_text(o.get('data', {}).get('text/plain')))
        elif o.get('output_type') == 'stream' and o.get('name') == 'stdout': parts.append(_text(o.get('text')))
        # stderr (warnings with file line numbers, progress bars) is not part of a result and is left out
    return _ANSI.sub('', '\n'.join(p.rstrip('\n') for p in parts if p))

def extract_numbers(text) -> list:
    "Every number in `text` as (value, token, line number): ints, floats, negatives, 3.33e-05, 1,030,410, 65.7% (as 0.657), NaN, inf"
    out = []
    for i, line in enumerate(text.splitlines()):
        for m in _NUM.finditer(line):
            if m['special']: v = float(m['special'].lower())
            else: v = float(m['num'].replace(',', '')) / (100 if m['pct'] else 1)
            out.append((v, m[0], i))
    return out

def within_tolerance(a, b) -> bool:
    "Saved value `a` and fresh value `b` agree: equal, both NaN, or abs(a - b) <= ABS_TOL + REL_TOL * abs(a)"
    if math.isnan(a) or math.isnan(b): return math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b): return a == b
    return abs(a - b) <= ABS_TOL + REL_TOL * abs(a)

def compare_key_outputs(saved_cell, fresh_cell) -> list:
    "Problems (an empty list when none) with `fresh_cell`'s output reproducing `saved_cell`'s: the same count of numbers, each within tolerance"
    saved, fresh = output_text(saved_cell), output_text(fresh_cell)
    if not saved.strip(): return ['the committed notebook has no saved output for this cell: execute the lesson and commit it']
    s, f = extract_numbers(saved), extract_numbers(fresh)
    sl, fl = saved.splitlines(), fresh.splitlines()
    if len(s) != len(f):
        diff = '\n'.join(unified_diff(sl, fl, 'saved', 'fresh', n=0, lineterm=''))
        return [f'saved output has {len(s)} numbers, fresh output has {len(f)}; lines that differ:\n{diff}']
    problems = []
    for (a, ta, ia), (b, tb, ib) in zip(s, f):
        if within_tolerance(a, b): continue
        tol = ABS_TOL + REL_TOL * abs(a) if math.isfinite(a) else 0.
        problems.append(f'{ta} -> {tb} (|diff| {abs(a - b):.4g} > tolerance {tol:.4g})\n'
                        f'    saved line: {sl[ia].strip()}\n    fresh line: {fl[ib].strip()}')
    return problems

# ---------------------------------------------------------------------------------------------------------------------
# Key-table cells of a notebook, and the comparison of a whole executed lesson with its committed version

def key_cells(nb) -> list:
    "The code cells of `nb` tagged `key-table`, in order"
    return [c for c in nb['cells'] if c.get('cell_type') == 'code' and KEY_TAG in c.get('metadata', {}).get('tags', [])]

def compare_key_tables(saved_nb, fresh_nb, name='notebook') -> list:
    "One readable report per key-table cell of `saved_nb` that `fresh_nb` does not reproduce (matched by cell id, else by position)"
    fresh_keys, by_id = key_cells(fresh_nb), {c.get('id'): c for c in fresh_nb['cells'] if c.get('id')}
    idx = {id(c): i for i, c in enumerate(saved_nb['cells'])}
    reports = []
    for k, sc in enumerate(key_cells(saved_nb)):
        fc = by_id.get(sc.get('id')) if sc.get('id') else None
        if fc is None and k < len(fresh_keys): fc = fresh_keys[k]
        where = f"{name}, key-table cell {idx[id(sc)]} (id {sc.get('id', '?')})"
        if fc is None:
            reports.append(f'{where}: no matching cell in the executed notebook'); continue
        problems = compare_key_outputs(sc, fc)
        if problems:
            cap = lambda t: '\n'.join(t.splitlines()[:60])
            reports.append(f'{where} does not reproduce its saved output '
                           f'(tolerance abs(a - b) <= {ABS_TOL} + {REL_TOL} * abs(a)):\n' + '\n'.join(f'  - {p}' for p in problems)
                           + f'\n  --- saved output ---\n{cap(output_text(sc))}\n  --- fresh output ---\n{cap(output_text(fc))}'
                           + '\nIf the change is intended, re-execute the lesson and commit it.')
    return reports

def cell_failure(nb, name='notebook', src_lines=8, tb_lines=15):
    "A short report of the first cell of the executed `nb` that raised: its source head and the error's last lines; None if none did"
    for i, c in enumerate(nb['cells']):
        for o in c.get('outputs', []):
            if o.get('output_type') != 'error': continue
            src = _text(c.get('source')).splitlines()
            tb = _ANSI.sub('', '\n'.join(o.get('traceback', []))).splitlines()
            return (f"{name}: cell {i} (id {c.get('id', '?')}) raised {o.get('ename')}: {_ANSI.sub('', o.get('evalue', ''))[:500]}\n"
                    f'--- cell source (first {src_lines} of {len(src)} lines) ---\n' + '\n'.join(src[:src_lines])
                    + f'\n--- error (last {tb_lines} lines) ---\n' + '\n'.join(tb[-tb_lines:]))
    return None

# ---------------------------------------------------------------------------------------------------------------------
# Executing a lesson: nbclient in a fresh python3 kernel, driven from a subprocess that writes the executed notebook

# Runs in the subprocess: argv = lesson, executed notebook to write, timeout in seconds. Cells with nbdev's `#| eval: false`
# are skipped, as nbdev's test_nb (which this test used before) skips them; the notebook is written also after a failure.
_RUNNER = r'''
import os, re, signal, sys, time
import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
src, dst, timeout = sys.argv[1], sys.argv[2], int(sys.argv[3])
nb = nbformat.read(src, as_version=4)
for c in nb.cells:
    if c.cell_type == 'code' and re.search(r'^\s*#\s*\|\s*eval\s*:\s*false\s*$', c.source, re.M | re.I):
        c.metadata.setdefault('tags', []).append('skip-execution')
current = [None]
def on_start(cell, cell_index): current[0] = f"cell {cell_index} (id {cell.get('id', '?')})"
def on_alarm(*_): raise KeyboardInterrupt
signal.signal(signal.SIGALRM, on_alarm); signal.alarm(timeout)
client = NotebookClient(nb, timeout=timeout, kernel_name='python3', on_cell_start=on_start,
                        resources={'metadata': {'path': os.path.dirname(os.path.abspath(src))}})
t, status = time.time(), 'ok'
try: client.execute()
except CellExecutionError: status = 'a cell raised'
except KeyboardInterrupt: status = f'timed out (limit {timeout} s) in {current[0]}'
except Exception as e: status = f'stopped in {current[0]}: {type(e).__name__}: {str(e)[-2000:]}'
finally:
    signal.alarm(0)
    nb.metadata['ftlearn_test'] = dict(status=status, seconds=round(time.time() - t, 1))
    nbformat.write(nb, dst)
print(f'{status} after {time.time() - t:.0f} s', flush=True)
os._exit(0 if status == 'ok' else 1)   # no waiting on a kernel left behind by a timeout: it exits with its parent
'''

def run_lesson(path, out_dir, executed, timeout=TIMEOUT):
    """Execute the lesson `path` with nbclient in a subprocess (small mode, offline, run folder `out_dir`, cwd the lesson's folder),
    writing the executed notebook to `executed`; return (ok, the subprocess's output)."""
    env = {**os.environ, 'FTLEARN_OFFLINE': '1', 'HF_HUB_OFFLINE': '1', 'TRANSFORMERS_OFFLINE': '1',
           'FTLEARN_MODE': 'small', 'FTLEARN_COURSE_OUT': str(out_dir), 'MPLBACKEND': 'Agg',
           'IN_TEST': '1'}   # what nbdev's test_nb set; no lesson or library code reads it today
    p = subprocess.Popen([sys.executable, '-c', _RUNNER, str(path), str(executed), str(int(timeout))], cwd=path.parent, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try: out, _ = p.communicate(timeout=timeout + 120)   # the runner stops itself at `timeout`; this is the backstop
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, _ = p.communicate()
        return False, f'killed after {timeout + 120} s without finishing\n{out}'
    return p.returncode == 0, out

def lesson_problems(path, tmp_path, timeout=TIMEOUT) -> list:
    "Execute the lesson `path` in a fresh run folder under `tmp_path`; return what went wrong: a failed run, or key tables not reproduced"
    executed, run_dir = tmp_path/f'executed_{path.name}', tmp_path/'runs'
    run_dir.mkdir(exist_ok=True)
    ok, out = run_lesson(path, run_dir, executed, timeout)
    fresh = nbformat.read(executed, as_version=4) if executed.exists() else None
    if not ok:
        failure = cell_failure(fresh, path.name) if fresh is not None else None
        return [failure or f'{path.name} did not finish:\n' + '\n'.join(out.splitlines()[-40:])]
    return compare_key_tables(nbformat.read(path, as_version=4), fresh, path.name)

# ---------------------------------------------------------------------------------------------------------------------
# The lessons

@pytest.mark.parametrize('lesson', LESSONS, ids=[p.stem for p in LESSONS])
def test_lesson_runs(lesson, tmp_path):
    # a fresh run folder, so the lesson trains for real instead of reading runs saved by an earlier execution;
    # a failing Summary assertion (the run contradicting the lesson's text) fails here too, and so does a key table
    # (a cell tagged `key-table`) that the run does not reproduce; a lesson with no tagged cell is only run
    problems = lesson_problems(lesson, tmp_path)
    assert not problems, '\n\n'.join(problems)

_LACKING = [p.name for p in LESSONS if not key_cells(nbformat.read(p, as_version=4))]

@pytest.mark.xfail(bool(_LACKING), strict=False, reason=f"no cell tagged '{KEY_TAG}' (only run, not compared): {', '.join(_LACKING)}")
def test_every_lesson_has_key_table():
    assert not _LACKING, f"lessons with no cell tagged '{KEY_TAG}': {', '.join(_LACKING)}"

# ---------------------------------------------------------------------------------------------------------------------
# Unit tests of the comparison (fast: no lesson is executed)

def _cell(*texts, stream=None, stderr=None):
    outs = [{'output_type': 'execute_result', 'data': {'text/plain': t}, 'metadata': {}, 'execution_count': 1} for t in texts]
    if stream is not None: outs.insert(0, {'output_type': 'stream', 'name': 'stdout', 'text': stream})
    if stderr is not None: outs.append({'output_type': 'stream', 'name': 'stderr', 'text': stderr})
    return {'cell_type': 'code', 'id': 'k', 'metadata': {'tags': [KEY_TAG]}, 'source': 'df', 'outputs': outs}

_TABLE = """                    accuracy  accuracy_std     lr  steps  feature_cka
strategy
lp_ft                  0.809         0.019  0.001     50        0.747
full_finetune          {acc}         0.036  0.001     50        0.731
scratch                0.594         0.060  0.001     50        0.472"""

def test_extract_numbers():
    text = "a -0.012 b 3.33e-05 65.7% 1,030,410 NaN 42 noise3 blocks.0 fp32 (a=0.5) 1e-3 68.0 ± 0.9 2.26e-03 -inf"
    assert [v for v, *_ in extract_numbers(text)] == pytest.approx(
        [-0.012, 3.33e-05, 0.657, 1030410, float('nan'), 42, 0.5, 1e-3, 68.0, 0.9, 2.26e-03, -math.inf], nan_ok=True)
    assert [n for *_, n in extract_numbers('1\nx 2 3\n\n4')] == [0, 1, 1, 3]

def test_equal_output_passes():
    assert compare_key_outputs(_cell(_TABLE.format(acc='0.772')), _cell(_TABLE.format(acc='0.772'))) == []

def test_small_move_passes():
    # 0.772 -> 0.775: printing/floating-point noise between machines, within tolerance
    assert compare_key_outputs(_cell(_TABLE.format(acc='0.772')), _cell(_TABLE.format(acc='0.775'))) == []

def test_five_point_drop_fails():
    problems = compare_key_outputs(_cell(_TABLE.format(acc='0.772')), _cell(_TABLE.format(acc='0.722')))
    assert len(problems) == 1 and '0.772 -> 0.722' in problems[0] and 'full_finetune' in problems[0]

def test_moved_number_fails():
    assert compare_key_outputs(_cell('accuracy 0.50'), _cell('accuracy 0.60'))
    assert compare_key_outputs(_cell('params 3383818'), _cell('params 3500000'))        # relative tolerance: 2%
    assert compare_key_outputs(_cell('forgetting -0.012'), _cell('forgetting -0.005')) == []  # within 0.015 + 2%
    assert compare_key_outputs(_cell('forgetting -0.012'), _cell('forgetting 0.012'))         # sign flip: 0.024 apart
    assert compare_key_outputs(_cell('share 65.7%'), _cell('share 60.7%'))              # 5 points, as a fraction
    assert compare_key_outputs(_cell('acc NaN'), _cell('acc 0.5'))
    assert compare_key_outputs(_cell('acc NaN'), _cell('acc NaN')) == []

def test_count_mismatch_fails():
    saved, fresh = _cell(_TABLE.format(acc='0.772')), _cell(_TABLE.format(acc='0.772') + '\nlinear_probe 0.788 0.006 0.001 0 1.000')
    problems = compare_key_outputs(saved, fresh)
    assert len(problems) == 1 and '15 numbers' in problems[0] and 'has 20' in problems[0] and '+linear_probe' in problems[0]

def test_text_ignored_stdout_counted_stderr_ignored():
    assert compare_key_outputs(_cell('full_finetune 0.772'), _cell('fine-tuning   0.772')) == []
    assert compare_key_outputs(_cell('x', stream='best k: 6\n'), _cell('x', stream='best k: 9\n'))
    assert compare_key_outputs(_cell('x 1', stderr='warn.py:12: UserWarning'), _cell('x 1', stderr='warn.py:99: UserWarning')) == []

def test_empty_saved_output_fails():
    saved = _cell(); saved['outputs'] = []
    assert 'no saved output' in compare_key_outputs(saved, _cell('0.5'))[0]

def test_compare_key_tables_matches_by_id_and_reports():
    def nb(acc, cid='c1'):
        c = _cell(_TABLE.format(acc=acc)); c['id'] = cid
        return {'cells': [{'cell_type': 'markdown', 'id': 'm', 'metadata': {}, 'source': '# x'}, c]}
    assert compare_key_tables(nb('0.772'), nb('0.773'), 'L.ipynb') == []
    [report] = compare_key_tables(nb('0.772'), nb('0.722'), 'L.ipynb')
    assert 'L.ipynb, key-table cell 1 (id c1)' in report and '--- saved output ---' in report and '--- fresh output ---' in report
    assert compare_key_tables(nb('0.772'), nb('0.722', cid='other'), 'L.ipynb')   # no id match: by position among tagged cells

def test_cell_failure_report():
    long_src = '\n'.join(f'x{i} = {i}' for i in range(30)) + '\nraise ValueError("bad")'
    cell = {'cell_type': 'code', 'id': 'e1', 'metadata': {}, 'source': long_src, 'outputs': [
        {'output_type': 'error', 'ename': 'ValueError', 'evalue': 'bad',
         'traceback': ['\x1b[0;31m---------\x1b[0m'] + [f'frame {i}' for i in range(100)] + ['\x1b[0;31mValueError\x1b[0m: bad']}]}
    report = cell_failure({'cells': [{'cell_type': 'code', 'id': 'ok', 'metadata': {}, 'source': '1', 'outputs': []}, cell]}, 'L.ipynb')
    assert report.startswith('L.ipynb: cell 1 (id e1) raised ValueError: bad')
    assert 'x0 = 0' in report and 'x8 = 8' not in report and 'frame 99' in report and 'frame 50' not in report
    assert '\x1b' not in report and len(report) < 1500
    assert cell_failure({'cells': [cell | {'outputs': []}]}) is None

"Every course lesson runs top to bottom headless, offline, in small mode, in a fresh process and a fresh run folder."
import os, sys, subprocess, tempfile
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
LESSONS = sorted(p for p in (ROOT/'course').glob('*.ipynb') if not p.name.startswith('_'))

def run_lesson(path, out_dir, timeout=1800):
    "Execute a lesson with nbdev's `test_nb` in a subprocess (small mode, offline); return (ok, output)."
    code = ("import sys; from nbdev.test import test_nb; "
            f"ok, t = test_nb({str(path)!r}, cell_timeout=None); print(f'{{t:.1f}} s'); sys.exit(0 if ok else 1)")
    env = {**os.environ, 'FTLEARN_OFFLINE': '1', 'HF_HUB_OFFLINE': '1', 'TRANSFORMERS_OFFLINE': '1',
           'FTLEARN_MODE': 'small', 'FTLEARN_COURSE_OUT': str(out_dir), 'MPLBACKEND': 'Agg'}
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=timeout, env=env, cwd=path.parent)
    return r.returncode == 0, r.stdout + r.stderr

@pytest.mark.parametrize('lesson', LESSONS, ids=[p.stem for p in LESSONS])
def test_lesson_runs(lesson, tmp_path):
    # a fresh run folder, so the lesson trains for real instead of reading runs saved by an earlier execution;
    # a failing Summary assertion (the run contradicting the lesson's text) fails here too
    ok, out = run_lesson(lesson, tmp_path)
    assert ok, f"{lesson.name} failed:\n{out[-6000:]}"

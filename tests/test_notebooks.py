"Every library notebook in nbs/ runs top to bottom (its examples are its tests), each in a fresh process."
import os, sys, subprocess
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
NBS = sorted(p for p in (ROOT/'nbs').glob('*.ipynb') if not p.name.startswith('_'))

def run_notebook(path, timeout=900):
    "Execute a notebook with nbdev's `test_nb` in a subprocess; return (ok, output)."
    code = ("import sys; from nbdev.test import test_nb; "
            f"ok, t = test_nb({str(path)!r}, skip_flags=['slow']); print(f'{{t:.1f}} s'); sys.exit(0 if ok else 1)")
    env = {**os.environ, 'FTLEARN_OFFLINE': '1', 'HF_HUB_OFFLINE': '1', 'FTLEARN_MODE': os.environ.get('FTLEARN_MODE', 'small')}
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT)
    return r.returncode == 0, r.stdout + r.stderr

@pytest.mark.parametrize('nb', NBS, ids=[p.stem for p in NBS])
def test_library_notebook(nb):
    ok, out = run_notebook(nb)
    assert ok, f"{nb.name} failed:\n{out[-6000:]}"

"""The explorers draw their plots as PNG images in a fresh, real Jupyter kernel where nothing called pyplot first.

nbdev's `test_nb` (and so `test_notebooks.py`) switches on inline plotting before running a notebook, which hides
whether a bare matplotlib `Figure` would render. Here nbclient runs a small notebook in a new ipykernel, as
JupyterLab or Voila would, and we look at what a frontend receives: cell outputs, and every widget message
(an `Image` widget's bytes, an `Output` widget's outputs)."""
import base64, os
import nbformat
import pytest
from nbclient import NotebookClient
from test_advise import toy_grid_file

PNG = b'\x89PNG\r\n\x1a\n'

CELLS = [
    # 0: nothing about plotting is set up: no pyplot import, no %matplotlib
    "import os, tempfile\nos.environ['FTLEARN_OFFLINE'] = '1'\n"
    "import pandas as pd\nfrom ftlearn.widgets import LRExplorer, StrategyExplorer",
    # 1: the explorer as a lesson shows it
    "lx = LRExplorer(lo=1e-5, hi=1e-3, n_groups=3)\nlx",
    # 2: a slider moved in the browser arrives as a state update from the frontend
    "lx.hi.set_state({'value': 1e-2})",
    # 3: the strategy explorer, on a tiny task
    "table = pd.DataFrame(dict(strategy=['linear_probe']*2, seed=[0, 1], accuracy=[.5, .6], n_train=[30]*2, status='ok'))\n"
    "sx = StrategyExplorer(table, size=32, bs=16, n_per_class=(3,), n_valid=20, n_test=30, out=tempfile.mkdtemp())\n"
    "sx.strategy.set_state({'value': 'feature_extraction'})\nsx",
    # 4: a click on Run, as the frontend sends it
    "sx.button._handle_button_msg(None, {'event': 'click'}, [])",
    # 5: the kernel's view, to explain a failure
    "print(sx.status.value, len(sx.runs))",
    # 6: the advisor on a toy grid (the fixture writes toy_grid.json beside the notebook), at a "near" condition
    "from ftlearn.widgets import AdvisorWidget\naw = AdvisorWidget(grid='toy_grid.json', n_per_class=20, probe_score=.88)\naw",
    # 7: the probe-score slider moved in the browser to a "far" condition
    "before = aw.recommendation\naw.probe_score.set_state({'value': 0.22})",
    # 8: the advice before and after
    "print(before, aw.recommendation)",
]

class _RecordingClient(NotebookClient):
    "An nbclient that keeps, per cell, every PNG a frontend would have received through widget messages."
    def __init__(self, *a, **k):
        super().__init__(*a, **k); self.pngs = {}
    def handle_comm_msg(self, outs, msg, cell_index):
        data = msg['content'].get('data', {})
        found = [bytes(b) for b in msg.get('buffers') or [] if bytes(b).startswith(PNG)]
        for o in (data.get('state') or {}).get('outputs', []) or []:          # an Output widget's captured outputs
            if 'image/png' in o.get('data', {}): found.append(base64.b64decode(o['data']['image/png']))
        self.pngs.setdefault(cell_index, []).extend(found)
        return super().handle_comm_msg(outs, msg, cell_index)

def _cell_pngs(cell):
    return [base64.b64decode(o['data']['image/png']) for o in cell.get('outputs', []) if 'image/png' in o.get('data', {})]

@pytest.fixture(scope='module')
def executed(tmp_path_factory):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    env_cache = str(tmp_path_factory.mktemp('cache'))
    where = tmp_path_factory.mktemp('nb'); toy_grid_file(where/'toy_grid.json')
    client = _RecordingClient(nb, timeout=600, kernel_name='python3', allow_errors=False, resources={'metadata': {'path': str(where)}})
    old = os.environ.get('MPLBACKEND')
    os.environ.pop('MPLBACKEND', None)                   # what a fresh kernel has: ipykernel's own default
    try: client.execute()
    finally:
        if old is not None: os.environ['MPLBACKEND'] = old
    return nb, client

def test_lr_explorer_draws_png_in_fresh_kernel(executed):
    nb, client = executed
    first = client.pngs.get(1, []) + _cell_pngs(nb.cells[1])
    assert first, f"LRExplorer showed no image/png in a fresh kernel; its outputs: {nb.cells[1].outputs}"
    assert all(p.startswith(PNG) for p in first)
    assert _cell_pngs(nb.cells[1]), "displaying the explorer carries no image/png for viewers without widgets"
    moved = client.pngs.get(2, [])
    assert moved, "moving the hi slider sent no new PNG to the frontend"
    assert moved[-1] not in first, "the PNG after moving the slider is the same as before"

def test_strategy_explorer_draws_png_and_run_updates_it(executed):
    nb, client = executed
    before = client.pngs.get(3, []) + _cell_pngs(nb.cells[3])
    assert before, f"StrategyExplorer showed no image/png in a fresh kernel; its outputs: {nb.cells[3].outputs}"
    after = client.pngs.get(4, [])
    assert after, f"Run sent no new PNG; kernel says: {nb.cells[5].outputs}"
    assert after[-1] != before[-1], "the plot did not change after Run"
    assert ' 1' in nb.cells[5].outputs[0]['text']       # one run recorded

def test_advisor_widget_draws_png_and_slider_changes_advice(executed):
    nb, client = executed
    before = client.pngs.get(6, []) + _cell_pngs(nb.cells[6])
    assert before and _cell_pngs(nb.cells[6]), f"AdvisorWidget showed no image/png in a fresh kernel; its outputs: {nb.cells[6].outputs}"
    moved = client.pngs.get(7, [])
    assert moved, "moving the probe-score slider sent no new PNG to the frontend"
    assert moved[-1] not in before, "the PNG after moving the slider is the same as before"
    assert nb.cells[8].outputs[0]['text'].split() == ['linear_probe', 'full_finetune']   # near: the probe; far: fine-tune everything

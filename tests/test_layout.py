"The package's layout: data flows one way (no import cycles), no private name crosses a module, light modules stay light."
import ast, os, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT/'ftlearn'

def _modules():
    "{module name: path} of every module of the package."
    out = {}
    for p in sorted(PKG.rglob('*.py')):
        if p.name == '_modidx.py': continue
        parts = p.relative_to(ROOT).with_suffix('').parts
        out['.'.join(parts[:-1] if p.name == '__init__.py' else parts)] = p
    return out

MODULES = _modules()

def _imports(name, path, top_only=False):
    "[(imported ftlearn module, [names], line)] of module `name`: absolute or relative, at the top or (unless `top_only`) inside functions."
    pkg = name if path.name == '__init__.py' else name.rpartition('.')[0]
    nodes = ast.parse(path.read_text()).body if top_only else ast.walk(ast.parse(path.read_text()))
    out = []
    for node in nodes:
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split('.'); base = base[:len(base) - node.level + 1]
                mod = '.'.join(base + ([node.module] if node.module else []))
            else: mod = node.module or ''
            if mod == 'ftlearn' or mod.startswith('ftlearn.'):
                names = [a.name for a in node.names]
                subs = [f'{mod}.{n}' for n in names if f'{mod}.{n}' in MODULES]   # `from ftlearn.data import core`
                out += [(s, [], node.lineno) for s in subs] or [(mod, names, node.lineno)]
        elif isinstance(node, ast.Import):
            out += [(a.name, [], node.lineno) for a in node.names if a.name.startswith('ftlearn')]
    return out

def _graph(top_only=False):
    return {m: {i for i, _, _ in _imports(m, p, top_only) if i != m and i in MODULES} for m, p in MODULES.items()}

def _cycle(graph):
    "One import cycle of `graph` as a list of modules, or None."
    state, stack = {}, []
    def visit(m):
        state[m] = 1; stack.append(m)
        for n in sorted(graph.get(m, ())):
            if state.get(n) == 1: return stack[stack.index(n):] + [n]
            if n not in state and (c := visit(n)): return c
        state[m] = 2; stack.pop()
    for m in sorted(graph):
        if m not in state and (c := visit(m)): return c

def test_the_graph_test_finds_a_cycle():
    "The cycle finder itself: a known cycle is found, an acyclic graph passes."
    assert _cycle({'a': {'b'}, 'b': {'c'}, 'c': {'a'}}) == ['a', 'b', 'c', 'a']
    assert _cycle({'a': {'b', 'c'}, 'b': {'c'}, 'c': set()}) is None

def test_no_import_cycles():
    "No module imports, directly or through others (lazily inside a function included), a module that imports it."
    g = _graph()
    assert sum(len(v) for v in g.values()) > 50   # the parser sees the package's imports at all
    assert _cycle(g) is None, f"import cycle: {' -> '.join(_cycle(g))}"

def test_no_private_names_cross_modules():
    "Modules share only public names: what another module needs is documented API, not `_helper`."
    bad = [f"{m}:{line} imports {n} from {i}" for m, p in MODULES.items() for i, names, line in _imports(m, p)
           for n in names if n.startswith('_') and i != m]
    assert not bad, '\n'.join(bad)

def _closure(start, graph):
    seen, todo = set(), [start]
    while todo:
        m = todo.pop()
        if m not in seen: seen.add(m); todo += graph.get(m, ())
    return seen

HEAVY_UI = ('ipywidgets', 'matplotlib.pyplot', 'IPython')

@pytest.mark.parametrize('module', ['ftlearn.compare', 'ftlearn.cli', 'ftlearn.deploy', 'ftlearn.strategies.all'])
def test_light_modules_do_not_import_the_ui(module):
    "Neither `module` nor anything it imports at load time imports ipywidgets, pyplot or IPython (plots and widgets load when asked for)."
    g = _graph(top_only=True)
    for m in _closure(module, g):
        src = ast.parse(MODULES[m].read_text())
        tops = [a.name for n in src.body if isinstance(n, ast.Import) for a in n.names] + \
               [n.module for n in src.body if isinstance(n, ast.ImportFrom) and n.module]
        assert not [t for t in tops if t.startswith(HEAVY_UI)], f"{m} (imported by {module}) imports {[t for t in tops if t.startswith(HEAVY_UI)]}"

def _python(code):
    env = {**os.environ, 'FTLEARN_OFFLINE': '1'}
    return subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)

def test_compare_imports_no_widgets():
    "Importing the harness loads no widget library (pyplot itself comes with fastai: `fastai.imports` imports it)."
    r = _python("import ftlearn.compare, sys; print('ipywidgets' in sys.modules, 'IPython.display' in sys.modules)")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ['False', 'False']

def test_cli_answers_before_torch_loads():
    "`ftlearn --help` and a bad argument are answered without importing torch, fastai or pandas."
    r = _python("import sys, contextlib, io\n"
                "from ftlearn.cli import main\n"
                "with contextlib.redirect_stderr(io.StringIO()) as err: code = main(['compare', '--seeds', 'x'])\n"
                "print(code, [m for m in ('torch', 'fastai', 'pandas') if m in sys.modules]); print(err.getvalue())")
    assert r.returncode == 0, r.stderr
    first = r.stdout.splitlines()[0]
    assert first == "2 []", r.stdout
    assert '--seeds must be comma-separated whole numbers' in r.stdout
    r = subprocess.run([str(Path(sys.executable).parent/'ftlearn'), '--help'], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and 'compare' in r.stdout

def test_adding_a_strategy_touches_one_file(tmp_path):
    "A strategy registered in a file of its own is run by `compare` and by the command line like the built-in ones."
    (tmp_path/'my_strategy.py').write_text(
        "from ftlearn.strategies.core import strategy, RunResult, check_common\n"
        "import numpy as np\n"
        "@strategy(frozen=True, order=50)\n"
        "def majority_class(task, steps=None, epochs=1, lr=None, wd=None, augment=False, seed=0):\n"
        "    'Always the most common training class: the floor every strategy must beat.'\n"
        "    check_common(steps, epochs, wd, augment, seed)\n"
        "    sp = task.splits; k = np.bincount(sp.y_train, minlength=sp.n_classes).argmax()\n"
        "    probs = np.eye(sp.n_classes)[np.full(len(sp.y_test), k)]\n"
        "    return RunResult('majority_class', seed, probs, sp.y_test, 0, 0, 0, valid_accuracy=float((sp.y_valid == k).mean()))\n")
    code = ("import sys; sys.path.insert(0, %r); import my_strategy\n"
            "from ftlearn.cli import main\n"
            "print('exit', main(['compare', '--data', 'uci_digits', '--n-per-class', '5', '--size', '32', '--strategies', 'majority_class,linear_probe',"
            " '--out', %r]))\n") % (str(tmp_path), str(tmp_path/'out'))
    r = _python(code)
    assert r.returncode == 0, r.stderr[-3000:]
    assert 'exit 0' in r.stdout, r.stdout[-3000:]
    import pandas as pd
    df = pd.read_csv(tmp_path/'out'/'results.csv')
    assert set(df.strategy) == {'majority_class', 'linear_probe'} and (df.status == 'ok').all()
    maj = df.set_index('strategy').accuracy
    assert maj['majority_class'] < maj['linear_probe']

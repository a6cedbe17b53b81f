"`ftlearn advise` on a toy grid: the printed advice is the `Advisor`'s on the printed signals; bad input is one line on stderr."
import os
os.environ.setdefault('FTLEARN_OFFLINE', '1')
import re
import numpy as np, pandas as pd, pytest
from ftlearn.advise import GRID_STRATEGIES, KEEPS_PRETRAINED, Advisor, grid_table, grid_summary, load_grid_summary
from ftlearn.cli import main

def toy_grid():
    "Runs and signals of a made-up grid (as in nbs/18_advise.ipynb): 'near' data sets (probe score ~0.9) where the probe wins, 'far' ones (~0.2) where full fine-tuning wins, at 5, 20 and 80 per class."
    rng = np.random.default_rng(0); rows, sig = [], []
    for data, ps, good in [('near', 0.9, 'linear_probe'), ('far', 0.2, 'full_finetune'), ('near2', 0.85, 'linear_probe'), ('far2', 0.25, 'full_finetune')]:
        for n in (5, 20, 80):
            sig.append(dict(data=data, kind='image', n_per_class=n, n_classes=10, probe_score=ps, head_entropy=0.5, bn_shift=1.0))
            for s in GRID_STRATEGIES:
                base = 0.9 if s == good else 0.7 if s in ('lp_ft', 'top_k') else 0.6
                for seed in range(3):
                    rows.append(dict(data=data, n_per_class=n, strategy=s, seed=seed, accuracy=base + rng.normal(0, 0.005), status='ok',
                                     seconds=1.0 if s in ('feature_extraction', 'linear_probe') else 10.0))
    return pd.DataFrame(rows), pd.DataFrame(sig)

def toy_grid_file(path):
    "The toy grid written as a grid summary at `path` (what `--grid` and `AdvisorWidget(grid=...)` read)."
    runs, sig = toy_grid()
    return grid_summary(grid_table(runs), sig, path=path)

def _printed_signals(out) -> dict:
    "The signals table `ftlearn advise` prints, as {name: text}."
    block = out.split('signals:\n', 1)[1].split('\n\n', 1)[0]
    return dict(l.split(None, 1) for l in block.splitlines() if l.strip())

def test_cli_advise_prints_the_advisors_recommendation(tmp_path, capsys):
    path = toy_grid_file(tmp_path/'grid.json')
    adv = Advisor(*load_grid_summary(path)[:2])
    for keep in ([], ['--keep-old']):
        code = main(['advise', '--data', 'uci_digits', '--n-per-class', '4', '--size', '32', '--grid', str(path), '--budget', '1e6'] + keep)
        out = capsys.readouterr().out
        assert code == 0, out
        sig = _printed_signals(out)
        assert sig['data'] == 'uci_digits' and float(sig['n_per_class']) == 4 and sig['keep_old'] == str(bool(keep))
        want = adv.recommend(dict(n_per_class=float(sig['n_per_class']), probe_score=float(sig['probe_score'])), keep_old=bool(keep))
        advised = re.findall(r'^advised: (\w+)', out, re.M)
        assert advised == [want], out
        assert re.search(rf'^{want}\s', out.split('advised:')[0], re.M)          # first row of the ranking printed above it
        if keep: assert want in KEEPS_PRETRAINED and 'keep the old task' in out

@pytest.mark.parametrize('extra,says', [(['--grid', 'no_such_grid.json'], 'no advisor grid summary at no_such_grid.json'),
                                        (['--data', 'no_such_data'], 'unknown data set'),
                                        (['--budget', '-1'], '--budget'), (['--n-per-class', '0'], '--n-per-class')])
def test_cli_advise_bad_input_is_one_line(tmp_path, capsys, extra, says):
    path = toy_grid_file(tmp_path/'grid.json')
    args = ['advise', '--data', 'uci_digits', '--n-per-class', '4', '--grid', str(path)]
    assert main(args + extra) == 2
    err = capsys.readouterr().err
    assert err.startswith('ftlearn: error: ') and says in err and err.count('\n') == 1, err

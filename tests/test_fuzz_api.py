"""Fuzz: bad and edge-case inputs to strategies, tasks, `compare`, the command line and the environment.

Each case names the user's mistake in its expected message; see tests/fuzzlib.py. `bench/fuzz.py` counts the
outcomes of the same cases on any checkout."""
import os
from pathlib import Path
import numpy as np, pandas as pd, pytest
from fuzzlib import Case, CLIError, check, cli, env, fuzz_params, small_task

def rs(name, **kw):
    "Run strategy `name` on the tiny task with `kw`."
    from ftlearn.strategies.all import run_strategy
    return lambda tmp: run_strategy(name, small_task(), **kw)

def cmp(strategies=('linear_probe',), **kw):
    def run(tmp):
        from ftlearn.compare import compare
        return compare(small_task(), list(strategies) if not isinstance(strategies, str) else strategies,
                       **{'out': tmp/'runs', 'progress': False, **kw})
    return run

def task_with(**kw):
    def run(tmp):
        from ftlearn.tasks.core import make_task
        return make_task(kw.pop('splits', None) or small_task().splits, kw.pop('backbone', 'efficientnet_lite0'), **kw)
    return run

def lr_zero_unchanged(r):
    "lr=0 is honoured: the backbone's weights did not move."
    return r.lr == 0 and max(w['relative_change'] for w in r.weight_change[:-1]) == 0

def one_ok_row(df):
    "`compare` made exactly one run, and it finished with an accuracy in [0, 1]."
    return len(df) == 1 and list(df.status) == ['ok'] and 0 <= df.accuracy.iloc[0] <= 1

def diverged(strategy):
    def check(df):
        assert list(df.status) == ['diverged'], list(df.status)
        assert df.error.iloc[0].startswith(strategy), df.error.iloc[0]   # our words first, not fastai's wrapper
    return check

def write_file(tmp):
    p = tmp/'afile'; p.write_text('x'); return p

S = 'strategies'
STRATEGY_CASES = [
    Case('lr_negative', rs('full_finetune', steps=2, lr=-1), match=r'lr must be a number >= 0', area=S),
    Case('lr_nan', rs('full_finetune', steps=2, lr=float('nan')), match=r'lr must be', area=S),
    Case('lr_inf', rs('full_finetune', steps=2, lr=float('inf')), match=r'lr must be', area=S),
    Case('lr_string', rs('full_finetune', steps=2, lr='0.1'), match=r'lr must be', area=S),
    Case('lr_bool', rs('full_finetune', steps=2, lr=True), match=r'lr must be', area=S),
    Case('lr_zero_honoured', rs('full_finetune', steps=2, lr=0), expect='ok', area=S, check=lr_zero_unchanged),
    Case('wd_negative', rs('full_finetune', steps=2, wd=-1e-4), match=r'wd must be', area=S),
    Case('wd_string', rs('full_finetune', steps=2, wd='big'), match=r'wd must be', area=S),
    Case('steps_zero', rs('full_finetune', steps=0), match=r'steps must be a whole number >= 1', area=S),
    Case('steps_negative', rs('scratch', steps=-3), match=r'steps must be', area=S),
    Case('steps_fraction', rs('full_finetune', steps=2.5), match=r'steps must be a whole number', area=S),
    Case('steps_bool', rs('full_finetune', steps=True), match=r'steps must be', area=S),
    Case('steps_numpy_int', rs('full_finetune', steps=np.int64(3), lr=1e-4), expect='ok', area=S, check=lambda r: r.steps == 3),
    Case('epochs_zero', rs('full_finetune', epochs=0), match=r'epochs must be a whole number >= 1', area=S),
    Case('epochs_negative_probe', rs('linear_probe', epochs=-1), match=r'epochs must be', area=S),
    Case('epochs_zero_probe', rs('linear_probe', epochs=0), match=r'epochs must be', area=S),
    Case('epochs_fraction', rs('full_finetune', epochs=1.5), match=r'epochs must be a whole number', area=S),
    Case('seed_negative', rs('full_finetune', steps=2, seed=-1), match=r'seed must be', area=S),
    Case('seed_string', rs('linear_probe', seed='0'), match=r'seed must be', area=S),
    Case('augment_string', rs('full_finetune', steps=2, augment='yes'), match=r'augment must be True or False', area=S),
    Case('bn_misspelt', rs('full_finetune', steps=2, bn='fozen'), match=r"bn must be one of", area=S),
    Case('bn_none', rs('scratch', steps=2, bn=None), match=r"bn must be one of", area=S),
    Case('freeze_frac_zero', rs('fine_tune', steps=4, freeze_frac=0), match=r'freeze_frac must be', area=S),
    Case('freeze_frac_above_one', rs('fine_tune', steps=4, freeze_frac=1.5), match=r'freeze_frac must be', area=S),
    Case('lr_mult_zero', rs('full_finetune', steps=2, lr_mult=0), match=r'lr_mult must be', area=S),
    Case('head_lr_mult_negative', rs('full_finetune', steps=2, head_lr_mult=-1), match=r'head_lr_mult must be', area=S),
    Case('stages_zero', rs('gradual_unfreeze', steps=4, stages=0), match=r'stages must be', area=S),
    Case('stages_fraction', rs('gradual_unfreeze', steps=4, stages=2.5), match=r'stages must be', area=S),
    Case('unfreeze_fewer_steps_than_stages', rs('gradual_unfreeze', steps=2), match=r'at least one step per stage', area=S),
    Case('fine_tune_one_step', rs('fine_tune', steps=1), match=r'at least 2 steps', area=S),
    Case('option_misspelt', rs('full_finetune', steps=2, lrr=0.1), exc=(ValueError, TypeError), match=r"lrr", area=S),
    Case('option_misspelt_suggests', rs('linear_probe', patiense=3), match=r"did you mean 'patience'", area=S),
    Case('strategy_misspelt', rs('ful_finetune'), match=r"unknown strategy 'ful_finetune'", area=S),
    Case('strategy_misspelt_suggests', rs('ful_finetune'), match=r"did you mean 'full_finetune'", area=S),
    Case('C_zero', rs('feature_extraction', C=0), match=r'C must be a number > 0', area=S),
    Case('C_negative', rs('feature_extraction', C=-1.0), match=r'C must be', area=S),
    Case('classifier_unknown', rs('feature_extraction', classifier='tree'), match=r"classifier must be 'logistic' or 'svm'", area=S),
    Case('probe_max_epochs_zero', rs('linear_probe', max_epochs=0), match=r'max_epochs must be', area=S),
    Case('probe_patience_zero', rs('linear_probe', patience=0), match=r'patience must be', area=S),
    Case('lp_ft_probe_lr_negative', rs('lp_ft', steps=2, probe_lr=-1), match=r'lr must be', area=S),
    Case('diverge_finite_full_ft', rs('full_finetune', steps=8, lr=1e3), match=r'^full_finetune: the training loss (grew|exploded)', area=S),
    Case('diverge_finite_fine_tune', rs('fine_tune', steps=8, lr=1e3), match=r'^fine_tune: the training loss', area=S),
    Case('diverge_finite_unfreeze', rs('gradual_unfreeze', steps=8, stages=2, lr=1e3), match=r'^gradual_unfreeze: the training loss', area=S),
    Case('diverge_finite_lp_ft', rs('lp_ft', steps=8, lr=1e3), match=r'^lp_ft: the training loss', area=S),
    Case('diverge_nan_scratch', rs('scratch', steps=8, lr=1e6), match=r'^scratch: the training loss became nan', area=S),
    Case('diverge_nan_full_ft', rs('full_finetune', steps=8, lr=1e6), match=r'^full_finetune: the training loss (became nan|grew)', area=S),
]

T = 'tasks'
TASK_CASES = [
    Case('size_zero', task_with(size=0), match=r'size must be a whole number from 16 to 1024', area=T),
    Case('size_negative', task_with(size=-32), match=r'size must be', area=T),
    Case('size_huge', task_with(size=10000), match=r'size must be', area=T),
    Case('size_fraction', task_with(size=31.5), match=r'size must be a whole number', area=T),
    Case('size_numpy_int', task_with(size=np.int32(40)), expect='ok', area=T,
         check=lambda t: t.size == 40 and type(t.size) is int and tuple(t.dls().one_batch()[0].shape[1:]) == (3, 40, 40)),
    Case('bs_zero', task_with(bs=0), match=r'bs must be a whole number >= 1', area=T),
    Case('bs_negative', task_with(bs=-1), match=r'bs must be', area=T),
    Case('bs_string', task_with(bs='64'), match=r'bs must be', area=T),
    Case('backbone_unknown', task_with(backbone='resnet9000'), exc=(ValueError, FileNotFoundError), match=r'resnet9000', area=T),
    Case('backbone_text_for_images', task_with(backbone='all-MiniLM-L6-v2'), match=r'not an image backbone', area=T),
    Case('splits_none', lambda tmp: __import__('ftlearn.tasks.core').tasks.core.make_task(None, 'efficientnet_lite0'), exc=(ValueError,), match=r'DataSplits', area=T),
    Case('splits_dataframe', lambda tmp: __import__('ftlearn.tasks.core').tasks.core.make_task(pd.DataFrame({'text': ['a'], 'label': [0]}), 'efficientnet_lite0'),
         match=r'DataSplits', area=T),
]

C = 'compare'
COMPARE_CASES = [
    Case('seeds_string_digits', cmp(seeds='12'), match=r"seeds must be .*not the string '12'", area=C),
    Case('seeds_float', cmp(seeds=[1.7]), match=r'seeds must be', area=C),
    Case('seeds_empty', cmp(seeds=[]), match=r'seeds must be a non-empty list', area=C),
    Case('seeds_negative', cmp(seeds=[-1]), match=r'seeds must be', area=C),
    Case('seeds_bool', cmp(seeds=[True]), match=r'seeds must be', area=C),
    Case('seeds_none', cmp(seeds=None), match=r'seeds must be', area=C),
    Case('seeds_duplicate_one_row', cmp(seeds=[0, 0]), expect='ok', area=C, check=one_ok_row),
    Case('seeds_numpy', cmp(seeds=np.array([0])), expect='ok', area=C, check=one_ok_row),
    Case('strategies_duplicate_one_row', cmp(strategies=['linear_probe', 'linear_probe']), expect='ok', area=C, check=one_ok_row),
    Case('strategies_string_trailing_commas', cmp(strategies='linear_probe,,'), expect='ok', area=C, check=one_ok_row),
    Case('strategies_empty', cmp(strategies=[]), match=r'no strategies', area=C),
    Case('strategies_empty_string', cmp(strategies=''), match=r'no strategies', area=C),
    Case('strategies_unknown', cmp(strategies=['magic']), match=r"unknown strateg.*magic", area=C),
    Case('option_misspelt', cmp(lrr=0.1), match=r"unknown option 'lrr' \(did you mean 'lr'\?\)", area=C),
    Case('option_of_another_strategy_ignored', cmp(strategies=['linear_probe'], freeze_frac=0.5), expect='ok', area=C, check=one_ok_row),
    Case('option_seed_singular', cmp(seed=1), match=r'seeds=', area=C),
    Case('option_bn_misspelt', cmp(['linear_probe', 'full_finetune'], bn='fozen'), match=r'bn must be one of', area=C),
    Case('option_max_epochs_zero', cmp(max_epochs=0), match=r'max_epochs must be', area=C),
    Case('option_classifier_unknown', cmp(['feature_extraction'], classifier='tree'), match=r'classifier must be', area=C),
    Case('lr_word', cmp(lr='fast'), match=r"lr must be 'auto', .*or a number, not 'fast'", area=C),
    Case('lr_negative', cmp(lr=-1), match=r'lr must be', area=C),
    Case('lr_grid_empty', cmp(['full_finetune'], lr='auto', lr_grid=()), match=r'lr_grid', area=C),
    Case('lr_grid_zero_factor', cmp(['full_finetune'], lr='auto', lr_grid=(0, 1)), match=r'lr_grid factor must be', area=C),
    Case('lr_grid_number', cmp(['full_finetune'], lr='auto', lr_grid=5), match=r'lr_grid', area=C),
    Case('wd_negative', cmp(wd=-1), match=r'wd must be', area=C),
    Case('augment_string', cmp(augment='no'), match=r'augment must be', area=C),
    Case('epochs_zero', cmp(epochs=0), match=r'epochs must be', area=C),
    Case('steps_negative', cmp(steps=-1), match=r'steps must be', area=C),
    Case('out_unwritable', lambda tmp: cmp(out='/proc/forbidden')(tmp), match=r'cannot write', area=C),
    Case('out_is_a_file', lambda tmp: cmp(out=write_file(tmp))(tmp), match=r'cannot write', area=C),
    Case('diverged_run_reported_finite', cmp(['full_finetune'], steps=8, lr=1e3), expect='ok', area=C, check=diverged('full_finetune')),
    Case('diverged_run_reported_nan', cmp(['scratch'], steps=8, lr=1e6), expect='ok', area=C, check=diverged('scratch')),
]

def cli_small(*args): return lambda tmp: cli('compare', '--n-per-class', '5', '--size', '32', '--out', tmp/'out', *args)

def cli_dir_results(tmp):
    (tmp/'out'/'results.csv').mkdir(parents=True)
    return cli_small('--strategies', 'feature_extraction')(tmp)

def cli_out_file(tmp):
    return cli('compare', '--n-per-class', '5', '--size', '32', '--out', write_file(tmp))

def cli_data(kind):
    def run(tmp):
        if kind == 'empty_dir': (tmp/'empty').mkdir(); d = tmp/'empty'
        else: d = tmp/'notes.txt'; d.write_text('hello')
        return cli('compare', '--data', d, '--out', tmp/'out')
    return run

def cli_diverged(tmp):
    try: cli_small('--strategies', 'feature_extraction,full_finetune', '--steps', '6', '--lr', '1000')(tmp)
    finally: assert (tmp/'out'/'results.csv').exists(), 'the table was not written'

L = 'cli'
CLI_CASES = [
    Case('seeds_empty', cli_small('--seeds', ''), exc=CLIError, match=r'--seeds must name at least one seed', area=L),
    Case('seeds_comma', cli_small('--seeds', ','), exc=CLIError, match=r'--seeds must', area=L),
    Case('seeds_words', cli_small('--seeds', 'a,b'), exc=CLIError, match=r'--seeds must be comma-separated whole numbers', area=L),
    Case('seeds_fraction', cli_small('--seeds', '1.5'), exc=CLIError, match=r'--seeds', area=L),
    Case('seeds_negative', cli_small('--seeds=-1'), exc=CLIError, match=r'--seeds must be whole numbers >= 0', area=L),
    Case('epochs_zero', cli_small('--epochs', '0'), exc=CLIError, match=r'epochs must be a whole number >= 1', area=L),
    Case('epochs_negative', cli_small('--epochs=-1'), exc=CLIError, match=r'epochs must be', area=L),
    Case('epochs_word', cli_small('--epochs', 'abc'), exc=CLIError, match=r"--epochs: invalid int value", area=L),
    Case('steps_zero', cli_small('--steps', '0'), exc=CLIError, match=r'steps must be', area=L),
    Case('size_zero', cli_small('--size', '0'), exc=CLIError, match=r'size must be a whole number from 16 to 1024', area=L),
    Case('size_tiny', cli_small('--size', '5'), exc=CLIError, match=r'size must be', area=L),
    Case('n_per_class_zero', cli_small('--n-per-class', '0'), exc=CLIError, match=r'n.per.class must be', area=L),
    Case('frac_zero', cli_small('--frac', '0'), exc=CLIError, match=r'frac must be', area=L),
    Case('frac_above_one', cli_small('--frac', '1.5'), exc=CLIError, match=r'frac must be', area=L),
    Case('frac_nan', cli_small('--frac', 'nan'), exc=CLIError, match=r'frac must be', area=L),
    Case('lr_negative', cli_small('--lr=-1'), exc=CLIError, match=r'lr must be a number >= 0', area=L),
    Case('lr_nan', cli_small('--lr', 'nan'), exc=CLIError, match=r'lr must be', area=L),
    Case('lr_word', cli_small('--lr', 'fast'), exc=CLIError, match=r"expected 'auto', 'default' or a number", area=L),
    Case('bn_misspelt', cli_small('--bn', 'fozen'), exc=CLIError, match=r"--bn: invalid choice", area=L),
    Case('mode_unknown', cli_small('--mode', 'huge'), exc=CLIError, match=r"--mode: invalid choice", area=L),
    Case('strategies_unknown', cli_small('--strategies', 'nope'), exc=CLIError, match=r"unknown strateg.*nope", area=L),
    Case('strategies_empty', cli_small('--strategies', ''), exc=CLIError, match=r'no strategies', area=L),
    Case('data_unknown', lambda tmp: cli('compare', '--data', 'no_such_data', '--out', tmp/'out'), exc=CLIError, match=r'no_such_data', area=L),
    Case('data_empty_folder', cli_data('empty_dir'), exc=CLIError, match=r'empty|no image|class', area=L),
    Case('data_text_file', cli_data('txt'), exc=CLIError, match=r'notes\.txt', area=L),
    Case('backbone_unknown', cli_small('--backbone', 'nope_net'), exc=CLIError, match=r'nope_net', area=L),
    Case('out_is_a_file', cli_out_file, exc=CLIError, match=r'is a file', area=L),
    Case('out_results_csv_is_a_folder', cli_dir_results, exc=CLIError, match=r'results\.csv is a folder', area=L),
    Case('out_unwritable', lambda tmp: cli('compare', '--out', '/proc/forbidden'), exc=CLIError, match=r'--out /proc/forbidden is not a writable folder', area=L),
    Case('probe_patience_zero', cli_small('--probe-patience', '0'), exc=CLIError, match=r'probe.patience must be', area=L),
    Case('probe_max_epochs_zero', cli_small('--probe-max-epochs', '0'), exc=CLIError, match=r'probe.max.epochs must be', area=L),
    Case('option_misspelt', cli_small('--lrr', '0.1'), exc=CLIError, match=r'unrecognized arguments: --lrr', area=L),
    Case('no_command_prints_help', lambda tmp: cli(), expect='ok', area=L, check=lambda out: out.startswith('usage: ftlearn') and 'compare' in out),
    Case('diverged_run_exit_code', cli_diverged, exc=CLIError, match=r'exit 1: .*full_finetune seed 0: diverged', area=L),
]

def cache_is_file(tmp):
    with env(FTLEARN_CACHE=write_file(tmp)):
        from ftlearn.core import cache_dir
        return cache_dir('features')

def cache_unwritable(tmp):
    with env(FTLEARN_CACHE='/proc/ftlearn-cache'):
        from ftlearn.core import cache_dir
        return cache_dir('features')

def cli_cache_is_file(tmp):
    with env(FTLEARN_CACHE=write_file(tmp)): return cli_small('--strategies', 'linear_probe')(tmp)

def mode(value):
    def run(tmp):
        with env(FTLEARN_MODE=value):
            from ftlearn.core import run_mode
            return run_mode()
    return run

def offline_hub_backbone(tmp):
    with env(FTLEARN_OFFLINE='1'):
        from ftlearn.models.backbones import load_backbone
        return load_backbone('resnet18', pretrained=True)

E = 'environment'
ENV_CASES = [
    Case('cache_is_a_file', cache_is_file, match=r'FTLEARN_CACHE .* must be a writable folder', area=E),
    Case('cache_unwritable', cache_unwritable, match=r'FTLEARN_CACHE', area=E),
    Case('cli_cache_is_a_file', cli_cache_is_file, exc=CLIError, match=r'exit 2: .*FTLEARN_CACHE', area=E),
    Case('mode_unknown', mode('huge'), match=r"FTLEARN_MODE must be 'small' or 'full'", area=E),
    Case('mode_spaced_upper', mode(' FULL '), expect='ok', area=E, check=lambda m: m == 'full'),
    Case('offline_hub_only_weights', offline_hub_backbone, exc=(ValueError, FileNotFoundError), match=r'resnet18.*(offline|downloads are off)', area=E),
]

def backbone(name='efficientnet_lite0', **kw):
    def run(tmp):
        from ftlearn.models.backbones import load_backbone
        return load_backbone(name, **kw)
    return run

B = 'backbones'
NC = r'num_classes must be a whole number >= 0, not '
BACKBONE_CASES = [
    Case('num_classes_negative', backbone(num_classes=-1), match=NC + r'-1 \(0: the pooled features; else the outputs of a new head\)', area=B),
    Case('num_classes_negative_text', backbone('all-MiniLM-L6-v2', num_classes=-3), match=NC + r'-3', area=B),
    Case('num_classes_fraction', backbone(num_classes=2.5), match=NC + r'2\.5 \(float\)', area=B),
    Case('num_classes_float_whole', backbone(num_classes=10.0), match=NC + r'10\.0 \(float\)', area=B),
    Case('num_classes_string', backbone(num_classes='10'), match=NC + r"'10'", area=B),
    Case('num_classes_bool', backbone(num_classes=True), match=NC + r'True \(bool\)', area=B),
    Case('num_classes_none', backbone(num_classes=None), match=NC + r'None', area=B),
    Case('num_classes_numpy_int', backbone(num_classes=np.int64(3), pretrained=False), expect='ok', area=B,
         check=lambda m: m.get_classifier().out_features == 3),
    Case('num_classes_zero_features', backbone(pretrained=False), expect='ok', area=B,
         check=lambda m: tuple(m.eval()(__import__('torch').zeros(2, 3, 32, 32)).shape) == (2, 1280)),
]

CASES = STRATEGY_CASES + TASK_CASES + COMPARE_CASES + CLI_CASES + ENV_CASES + BACKBONE_CASES

@pytest.mark.parametrize('case', fuzz_params(CASES))
def test_fuzz(case, tmp_path): check(case, tmp_path)

def test_ok_cases_check_their_result():
    "Not raising is not enough: every 'ok' case checks what it returned."
    assert [c.id for c in CASES if c.expect == 'ok' and c.check is None] == []

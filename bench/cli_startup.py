"""How fast the command line answers when there is nothing to train: `ftlearn --help` and a bad argument.

    python bench/cli_startup.py [--lib OTHER_CHECKOUT] [--repeats 5]

Each command runs in a fresh Python process (as `ftlearn` does), `--repeats` times, interleaved with the other
checkout's when `--lib` is given (e.g. a copy of the package before the change), so that both see the same machine
load. Reports the median wall time and the process's peak memory (max RSS).
"""
import argparse, json, os, statistics, subprocess, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = {'--help': ['--help'], 'compare --seeds x': ['compare', '--seeds', 'x'], 'compare --steps 0': ['compare', '--steps', '0']}
CODE = ("import resource, sys, contextlib, io\n"
        "from ftlearn.cli import main\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):\n"
        "    try: rc = main(ARGS)\n"
        "    except SystemExit as e: rc = e.code\n"
        "print(rc, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 'torch' in sys.modules)")

def once(args, lib):
    env = {**os.environ, 'FTLEARN_OFFLINE': '1', 'PYTHONPATH': str(lib)}
    t = time.perf_counter()
    r = subprocess.run([sys.executable, '-c', CODE.replace('ARGS', repr(args))], capture_output=True, text=True, env=env, cwd='/')
    wall = time.perf_counter() - t
    rc, mb, torch = r.stdout.split()[-3:]
    return wall, float(mb), rc, torch == 'True'

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--lib', default=None, help='a folder holding another `ftlearn` package to measure side by side')
    p.add_argument('--repeats', type=int, default=5)
    a = p.parse_args()
    libs = {'this checkout': ROOT} | ({'other (--lib)': Path(a.lib).resolve()} if a.lib else {})
    res = {(l, c): [] for l in libs for c in COMMANDS}
    for _ in range(a.repeats):
        for c, args in COMMANDS.items():
            for l, path in libs.items(): res[l, c].append(once(args, path))
    print(f'{a.repeats} runs each, median wall time and peak memory of a fresh process ({os.cpu_count()} cores)')
    for c in COMMANDS:
        for l in libs:
            r = res[l, c]
            print(f'  {c:<20} {l:<14} {statistics.median(x[0] for x in r):6.2f} s  {max(x[1] for x in r):7.0f} MB  '
                  f'exit {r[0][2]}  torch loaded: {r[0][3]}')

if __name__ == '__main__': main()

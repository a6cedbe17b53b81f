"""Execute a course lesson in a fresh python3 kernel and save it with its outputs, also when a cell fails or time runs out.

Used for the full-mode (GPU) runs whose executed copies live in bench/results/; CI runs the lessons in small mode
through tests/test_lessons.py instead.
Usage: python bench/run_lesson.py course/05_forgetting.ipynb --mode full --out OUT.ipynb [--runs DIR] [--timeout S]
"""
import argparse, os, sys, time, tempfile
import nbformat
from nbclient import NotebookClient

ap = argparse.ArgumentParser()
ap.add_argument('lesson'); ap.add_argument('--mode', default='full', choices=['small', 'full'])
ap.add_argument('--out', required=True, help='where the executed notebook goes')
ap.add_argument('--runs', default=None, help='run folder (FTLEARN_COURSE_OUT); a fresh temporary one if not given')
ap.add_argument('--timeout', type=float, default=3600, help='seconds for the whole lesson; the notebook is saved either way')
a = ap.parse_args()
os.environ.update(FTLEARN_MODE=a.mode, FTLEARN_OFFLINE='1', HF_HUB_OFFLINE='1', TRANSFORMERS_OFFLINE='1',
                  FTLEARN_COURSE_OUT=a.runs or tempfile.mkdtemp(prefix='ftlearn_lesson_'))
nb = nbformat.read(a.lesson, as_version=4)
client = NotebookClient(nb, timeout=int(a.timeout), kernel_name='python3',
                        resources={'metadata': {'path': os.path.dirname(os.path.abspath(a.lesson))}})
t, status = time.time(), 'ok'
try: client.execute()
except Exception as e: status = f'stopped: {type(e).__name__}: {str(e)[-2000:]}'
finally:
    nb.metadata['ftlearn_run'] = dict(mode=a.mode, seconds=round(time.time() - t, 1), status=status[:300],
                                      finished=time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime()))
    nbformat.write(nb, a.out)
print(f'{a.lesson} ({a.mode}): {status} after {time.time() - t:.0f} s -> {a.out}')
sys.exit(0 if status == 'ok' else 1)

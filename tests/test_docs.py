"""The documentation site (docs/build.py, mkdocs.yml): built offline into a temporary folder in under two minutes, then
checked: every page is there, every internal link and anchor resolves and nothing is loaded from outside the site,
every notebook page shows its saved figures as images, every public name has its entry in the API reference (and
the links in ftlearn/_modidx.py land on them), and headless Chromium opens the home page, a lesson and an API page
without a console error, with the lesson's figures loaded.

Needs the dev extra's mkdocs, mkdocs-material, mkdocs-jupyter and jupyter-server-mathjax (skips, saying which is
missing, elsewhere); the browser check also needs Debian's `chromium` and `chromium-driver` and selenium."""
import functools, http.server, importlib.util, json, re, shutil, subprocess, sys, threading, time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit, unquote
import pytest

ROOT = Path(__file__).resolve().parent.parent
BUILD_LIMIT_S = 120
NEEDED = ('mkdocs', 'material', 'mkdocs_jupyter', 'jupyter_server_mathjax')
missing = [m for m in NEEDED if importlib.util.find_spec(m) is None]
pytestmark = pytest.mark.skipif(bool(missing), reason=f"{', '.join(missing)} not installed (./setup.sh --dev installs them)")

_spec = importlib.util.spec_from_file_location('ftlearn_docs_build', ROOT / 'docs' / 'build.py')
docs_build = importlib.util.module_from_spec(_spec); _spec.loader.exec_module(docs_build)   # which modules have API pages

LESSONS = sorted((ROOT / 'course').glob('*.ipynb'))
NOTEBOOKS = sorted((ROOT / 'nbs').glob('*.ipynb'))
IMAGE_MIMES = ('image/png', 'image/jpeg')

@pytest.fixture(scope='module')
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp('docs')
    t = time.time()
    r = subprocess.run([sys.executable, str(ROOT / 'docs' / 'build.py'), '--out', str(out), '--quiet'], cwd=ROOT,
                       capture_output=True, text=True, timeout=600)
    took = time.time() - t
    print(f"docs build: {took:.1f} s\n{r.stdout[-500:]}")
    assert r.returncode == 0, f"docs/build.py failed:\n{r.stdout[-3000:]}\n{r.stderr[-6000:]}"
    return out / 'site', took

def test_build_time(site):
    assert site[1] < BUILD_LIMIT_S, f"the site took {site[1]:.0f} s to build (limit {BUILD_LIMIT_S} s)"

def _page(p: Path) -> str: return p.relative_to(ROOT).with_suffix('.html').as_posix()

def test_every_page_is_there(site):
    site = site[0]
    pages = ['index.html', 'course/index.html', 'api/index.html'] + [_page(p) for p in LESSONS + NOTEBOOKS]
    pages += [f'api/{docs_build.page_name(mod)}.html' for mod, _, _ in docs_build.exported_modules()]
    assert not [p for p in pages if not (site / p).is_file()], "pages missing from the site"
    assert len(NOTEBOOKS) > 30 and len(LESSONS) >= 6

class _Parse(HTMLParser):
    "The ids in a page and the addresses it refers to: (tag, attribute, value)."
    def __init__(self):
        super().__init__(); self.ids, self.refs = set(), []
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for k in ('id', 'name'):
            if a.get(k) and (k == 'id' or tag == 'a'): self.ids.add(a[k])
        for k in ('href', 'src'):
            if a.get(k) is not None and not (tag == 'link' and 'canonical' in (a.get('rel') or '')): self.refs.append((tag, k, a[k]))

@functools.lru_cache(maxsize=None)
def _parsed(path: Path):
    p = _Parse(); p.feed(path.read_text(encoding='utf-8')); return p

def test_links_resolve_and_nothing_is_loaded_from_outside(site):
    site = site[0]
    pages = sorted(site.rglob('*.html'))
    assert len(pages) > 80
    bad, outside, n = [], [], 0
    for page in pages:
        for tag, attr, ref in _parsed(page).refs:
            u = urlsplit(ref)
            if u.scheme in ('data', 'mailto', 'javascript'): continue
            if u.scheme or ref.startswith('//'):
                if not (tag == 'a' and attr == 'href'): outside.append(f"{page.relative_to(site)}: <{tag} {attr}={ref}>")
                continue
            n += 1
            target = ((site if u.path.startswith('/') else page.parent) / unquote(u.path).lstrip('/')).resolve() if u.path else page
            if target.is_dir(): target = target / 'index.html'
            if site.resolve() not in [target, *target.parents] or not target.is_file():
                bad.append(f"{page.relative_to(site)}: {ref} (no such file)"); continue
            if u.fragment and target.suffix == '.html' and unquote(u.fragment) not in _parsed(target).ids:
                bad.append(f"{page.relative_to(site)}: {ref} (no such anchor)")
    assert n > 5000, f"only {n} internal links checked"
    assert not outside, "pages load from outside the site (it must work offline):\n" + '\n'.join(outside[:20])
    assert not bad, f"{len(bad)} broken internal links:\n" + '\n'.join(bad[:30])

def _saved_images(nb: Path) -> int:
    "How many image outputs a notebook has saved (a widget's saved PNG counts: the site shows it)."
    cells = json.loads(nb.read_text(encoding='utf-8'))['cells']
    return sum(any(m in o.get('data', {}) for m in IMAGE_MIMES) for c in cells if c['cell_type'] == 'code' for o in c.get('outputs', []))

@pytest.mark.parametrize('nb', LESSONS + NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_figures_are_images(site, nb):
    html = (site[0] / _page(nb)).read_text(encoding='utf-8')
    shown = len(re.findall(r'<img\b[^>]*\bsrc="data:image/(?:png|jpeg);base64,[A-Za-z0-9+/=\s]{100,}"', html))
    want = _saved_images(nb)
    if nb in LESSONS: assert want > 0, f"{nb.name} has no saved figure"
    assert shown >= want, f"{nb.name}: {want} saved figures, {shown} images on its page"
    assert 'application/vnd.jupyter.widget' not in html   # widgets show their saved picture, no CDN JavaScript

def test_api_reference(site):
    site = site[0]
    modidx = importlib.import_module('ftlearn._modidx').d['syms']
    missing, n = [], 0
    for mod, _, _ in docs_build.exported_modules():
        page = site / 'api' / f'{docs_build.page_name(mod)}.html'
        ids, html = _parsed(page).ids, page.read_text(encoding='utf-8')
        for name in importlib.import_module(mod).__all__:
            n += 1
            if name.lower() not in ids: missing.append(f"{mod}.{name}")
        for sym, (url, _) in modidx.get(mod, {}).items():   # nbdev's index of every exported symbol
            if any(p.startswith('_') for p in sym[len(mod) + 1:].split('.')): continue
            n += 1
            url_page, anchor = url.split('#')
            if url_page != page.name or anchor not in ids: missing.append(f"{sym} ({url})")
        assert 'language-python' in html or 'highlight' in html
    assert n > 200
    assert not missing, "names without their API entry:\n" + '\n'.join(missing)
    fit_steps = (site / 'api' / 'callback.budget.html').read_text(encoding='utf-8')
    assert 'fit_steps' in fit_steps and 'optimiser steps' in fit_steps   # signature, docstring and the prose before it

def test_no_docs_address_that_does_not_exist():
    "Module docstrings once pointed at a github.io site that was never published."
    assert not [p for p in (ROOT / 'ftlearn').rglob('*.py') if 'ftlearn.github.io' in p.read_text(encoding='utf-8')]

CHROMIUM = next((shutil.which(b) for b in ('chromium', 'chromium-browser', 'google-chrome') if shutil.which(b)), None)

def test_pages_in_a_browser(site):
    "Headless Chromium opens the home page, a lesson and an API page, served over HTTP: no console error, figures loaded."
    if CHROMIUM is None or shutil.which('chromedriver') is None: pytest.skip("no chromium / chromedriver on PATH (./setup.sh --dev installs them as root)")
    selenium = pytest.importorskip('selenium', reason="selenium is not installed (pip install -e '.[dev]')")
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *a): pass
    handler = functools.partial(Quiet, directory=str(site[0]))
    httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    opts = Options(); opts.binary_location = CHROMIUM
    for a in ('--headless=new', '--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu', '--window-size=1400,1800'): opts.add_argument(a)
    opts.set_capability('goog:loggingPrefs', {'browser': 'ALL'})
    driver = webdriver.Chrome(service=Service(shutil.which('chromedriver')), options=opts)
    base = f'http://127.0.0.1:{httpd.server_address[1]}/'
    try:
        driver.set_page_load_timeout(60)
        for path in ['index.html', _page(LESSONS[0]), 'api/compare.html', _page(ROOT / 'nbs' / '05_metrics.ipynb')]:
            driver.get(base + path)
            deadline = time.time() + 30   # the page, its images and (on notebook pages) MathJax settle
            while time.time() < deadline and not driver.execute_script(
                    "return document.readyState === 'complete' && [...document.images].every(i => i.complete)"
                    " && (!window.MathJax || !window.MathJax.Hub || window.MathJax.Hub.queue.running + window.MathJax.Hub.queue.pending === 0)"):
                time.sleep(0.2)
            time.sleep(0.5)
            errors = [e for e in driver.get_log('browser') if e['level'] in ('SEVERE', 'ERROR')]
            assert not errors, f"{path}: console errors: {errors}"
            assert driver.find_element('css selector', 'h1').text.strip(), f"{path}: no title"
            imgs = driver.execute_script("return [...document.querySelectorAll('.jp-RenderedImage img')].map(i => i.naturalWidth)")
            if path == _page(LESSONS[0]): assert imgs and all(w > 0 for w in imgs), f"{path}: figures not shown: {imgs}"
            if path.startswith('nbs/05'):   # a formula, typeset by the site's own MathJax
                assert driver.execute_script("return document.querySelectorAll('.MathJax, .MathJax_Display, .MathJax_CHTML, .MathJax_SVG').length") > 0
    finally:
        driver.quit(); httpd.shutdown()

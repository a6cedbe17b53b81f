"""The explorers in a real browser: Voila, then JupyterLab, serve a small notebook; headless Chromium drags a slider, picks from a
dropdown and clicks Run, and the plot image must change each time (the advisor's advice too, on a toy grid). Prints the click-to-update times.

Needs Debian's `chromium` and `chromium-driver` (`./setup.sh --dev` installs them when run as root) and the dev
extra's `selenium` and `voila`; skips, saying which is missing, elsewhere."""
import hashlib, os, shutil, socket, subprocess, sys, time
from pathlib import Path
import nbformat
import pytest
from test_advise import toy_grid_file

CHROMIUM = next((shutil.which(b) for b in ('chromium', 'chromium-browser', 'google-chrome') if shutil.which(b)), None)
CHROMEDRIVER = shutil.which('chromedriver')
try: import selenium; from selenium import webdriver
except ImportError: selenium = None
try: import voila
except ImportError: voila = None

pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="no chromium browser on PATH (Debian: apt-get install chromium; ./setup.sh --dev does it as root)"),
    pytest.mark.skipif(CHROMEDRIVER is None, reason="no chromedriver on PATH (Debian: apt-get install chromium-driver; ./setup.sh --dev does it as root)"),
    pytest.mark.skipif(selenium is None, reason="selenium is not installed (pip install -e '.[dev]')"),
    pytest.mark.skipif(voila is None, reason="voila is not installed (pip install -e '.[dev]')"),
]

CELLS = [
    "import os, tempfile\nos.environ['FTLEARN_OFFLINE'] = '1'\nfrom ftlearn.widgets import LRExplorer, StrategyExplorer",
    "LRExplorer(lo=1e-5, hi=1e-3, n_groups=9)",
    # tiny: 32 px, 3 images per class; feature_extraction fits a classifier on frozen features (seconds on a CPU)
    "StrategyExplorer(size=32, bs=16, n_per_class=(3,), n_valid=20, n_test=30, epochs=1, out=tempfile.mkdtemp())",
    # the advisor on a toy grid written beside the notebook, at a "near" condition (the probe wins there)
    "from ftlearn.widgets import AdvisorWidget\nAdvisorWidget(grid='toy_grid.json', n_per_class=20, probe_score=.88)",
]

def _free_port():
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

SERVERS = {   # how each serves the notebook, and the page that shows it
    'voila': (lambda port: ['-m', 'voila', 'explorers.ipynb', '--no-browser', f'--port={port}', '--Voila.ip=127.0.0.1'], '/'),
    'jupyterlab': (lambda port: ['-m', 'jupyterlab', '--no-browser', f'--port={port}', '--ServerApp.ip=127.0.0.1', '--allow-root',
                                 "--IdentityProvider.token=", '--LabApp.expose_app_in_browser=True', '--ServerApp.root_dir=.'],
                   '/lab/tree/explorers.ipynb?reset'),
}
RUN_ALL = """
    const done = arguments[arguments.length - 1];
    (async () => {
        const app = window.jupyterapp;
        while (!app.shell.currentWidget || !app.shell.currentWidget.sessionContext) await new Promise(r => setTimeout(r, 200));
        const nb = app.shell.currentWidget;
        await nb.sessionContext.ready;
        await app.commands.execute('notebook:run-all-cells');
        done('ok');
    })().catch(e => done(String(e)));"""

@pytest.fixture(scope='module', params=list(SERVERS))
def page(request, tmp_path_factory):
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    d = tmp_path_factory.mktemp(request.param)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    nb.metadata.kernelspec = dict(name='python3', display_name='Python 3', language='python')
    nbformat.write(nb, d / 'explorers.ipynb'); toy_grid_file(d / 'toy_grid.json')
    port, log = _free_port(), open(d / 'server.log', 'w')
    env = {**os.environ, 'FTLEARN_OFFLINE': '1', 'HF_HUB_OFFLINE': '1', 'JUPYTER_CONFIG_DIR': str(d / 'config')}
    args, path = SERVERS[request.param]
    server = subprocess.Popen([sys.executable, *args(port)], cwd=d, stdout=log, stderr=subprocess.STDOUT, env=env)
    opts = Options()
    opts.binary_location = CHROMIUM
    for a in ('--headless=new', '--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu', '--window-size=1400,2400'): opts.add_argument(a)
    driver = None
    server_log = lambda: f"Server log:\n{(d / 'server.log').read_text()[-3000:]}"
    try:
        for _ in range(300):                                   # the server is up when its port answers
            try: socket.create_connection(('127.0.0.1', port), timeout=1).close(); break
            except OSError: time.sleep(0.2)
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
        driver.set_page_load_timeout(180); driver.set_script_timeout(180)
        driver.get(f'http://127.0.0.1:{port}{path}')           # Voila runs the notebook, then shows its widgets
        if request.param == 'jupyterlab':                      # JupyterLab opens it; we run all cells as a user would
            _wait(lambda: driver.execute_script('return !!window.jupyterapp'), 120, lambda: 'JupyterLab to load; ' + server_log())
            res = driver.execute_async_script(RUN_ALL)
            assert res == 'ok', f"running the notebook in JupyterLab failed: {res}"
        def shown():
            if '<Figure size' in driver.find_element('tag name', 'body').text:    # matplotlib's repr: the plot never became an image
                raise _Fail("the explorers' plots appear as the text '<Figure size ...>', not as images")
            return len(_images(driver)) == 3
        _wait(shown, 180, lambda: 'three plot images; ' + server_log())
        driver.server_name = request.param
        yield driver
    finally:
        if driver is not None: driver.quit()
        server.terminate()
        try: server.wait(10)
        except subprocess.TimeoutExpired: server.kill()
        log.close()

class _Fail(AssertionError): pass

def _wait(cond, timeout, what):
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        try:
            if cond(): return time.perf_counter() - t0
        except _Fail: raise
        except Exception: pass
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what() if callable(what) else what}")

def _images(driver):
    from selenium.webdriver.common.by import By
    return [i for i in driver.find_elements(By.CSS_SELECTOR, 'img.widget-image, .widget-image img, img') if (i.get_attribute('src') or '').startswith('blob:')]

def _digest(driver, img):
    "SHA-1 of the bytes behind an <img>'s blob URL, as the browser holds them (a new URL alone is not a new picture)."
    b64 = driver.execute_async_script("""
        const done = arguments[arguments.length - 1];
        fetch(arguments[0].src).then(r => r.arrayBuffer()).then(b => {
            let s = ''; const u = new Uint8Array(b); for (let i = 0; i < u.length; i++) s += String.fromCharCode(u[i]);
            done(btoa(s)); }).catch(e => done(null));""", img)
    import base64
    raw = base64.b64decode(b64)
    assert raw[:8] == b'\x89PNG\r\n\x1a\n', "the widget image is not a PNG"
    return hashlib.sha1(raw).hexdigest()

def _changed(driver, k, before):
    "Seconds until image `k` shows other bytes than `before` (and the new digest)."
    now = {}
    def cond():
        imgs = _images(driver)
        now['d'] = _digest(driver, imgs[k])
        return now['d'] != before
    return cond, now

def _control(driver, label, kind):
    from selenium.webdriver.common.by import By
    return driver.find_element(By.XPATH, f"//div[contains(@class, 'widget-{kind}')][.//label[normalize-space()={label!r}]]")

TIMES = {}

def test_lr_explorer_drag_and_select_redraw(page, capsys):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select
    driver = page
    before = _digest(driver, _images(driver)[0])
    slider = _control(driver, 'hi (top)', 'slider')
    readout = slider.find_element(By.CSS_SELECTOR, '.widget-readout').text
    handle = slider.find_element(By.CSS_SELECTOR, '.noUi-handle')
    ActionChains(driver).click_and_hold(handle).move_by_offset(25, 0).move_by_offset(25, 0).move_by_offset(20, 0).release().perform()
    cond, now = _changed(driver, 0, before)
    TIMES[driver.server_name, 'LRExplorer: drag hi slider'] = _wait(cond, 30, 'the LR plot to change after dragging the hi slider')
    assert slider.find_element(By.CSS_SELECTOR, '.widget-readout').text != readout
    before = now['d']
    Select(_control(driver, 'schedule', 'dropdown').find_element(By.TAG_NAME, 'select')).select_by_visible_text('warmup')
    cond, now = _changed(driver, 0, before)
    TIMES[driver.server_name, 'LRExplorer: pick schedule'] = _wait(cond, 30, 'the LR plot to change after picking the warmup schedule')
    before = now['d']
    n_train = _control(driver, 'groups training', 'slider')
    assert n_train.find_element(By.TAG_NAME, 'label').text == 'groups training'    # the label is whole
    ActionChains(driver).click_and_hold(n_train.find_element(By.CSS_SELECTOR, '.noUi-handle')).move_by_offset(-60, 0).release().perform()
    cond, now = _changed(driver, 0, before)
    TIMES[driver.server_name, 'LRExplorer: drag groups-training slider'] = _wait(cond, 30, 'the LR plot to change after dragging groups training')
    with capsys.disabled():
        for k in [k for k in TIMES if k[0] == driver.server_name and k[1].startswith('LR')]: print(f"\nclick-to-update ({k[0]}) {k[1]}: {TIMES[k]:.2f} s", end='')

def test_strategy_explorer_run_adds_star(page, capsys):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select
    driver = page
    before = _digest(driver, _images(driver)[1])
    Select(_control(driver, 'strategy', 'dropdown').find_element(By.TAG_NAME, 'select')).select_by_visible_text('feature_extraction')
    button = driver.find_element(By.XPATH, "//button[normalize-space()='Run']")
    t0 = time.perf_counter()
    button.click()
    _wait(lambda: not button.is_enabled(), 5, 'the Run button to be disabled while the run trains')
    button.click()                                             # a second click while it trains must not queue a second run
    cond, now = _changed(driver, 1, before)
    _wait(cond, 150, 'the strategy plot to change after Run')
    TIMES[driver.server_name, 'StrategyExplorer: Run'] = time.perf_counter() - t0
    _wait(lambda: button.is_enabled(), 10, 'the Run button to come back')
    status = driver.find_element(By.XPATH, "//div[contains(@class, 'widget-label') and contains(., 'accuracy')]").text
    assert status.startswith('#1 feature_extraction'), status
    time.sleep(1)
    assert '#2' not in driver.find_element(By.TAG_NAME, 'body').text, "a click during the run added a second run"
    # a run that trains the network under the step budget (1 epoch = 1 step here)
    before = now['d']
    Select(_control(driver, 'strategy', 'dropdown').find_element(By.TAG_NAME, 'select')).select_by_visible_text('full_finetune')
    t0 = time.perf_counter(); button.click()
    cond, now = _changed(driver, 1, before)
    _wait(cond, 150, 'the strategy plot to change after running full_finetune')
    TIMES[driver.server_name, 'StrategyExplorer: Run full_finetune'] = time.perf_counter() - t0
    _wait(lambda: '#2 full_finetune, default lr' in driver.find_element(By.TAG_NAME, 'body').text, 10, 'the status of run #2')
    with capsys.disabled():
        print(f"\nclick-to-update ({driver.server_name}) StrategyExplorer Run, feature_extraction, first run: "
              f"{TIMES[driver.server_name, 'StrategyExplorer: Run']:.1f} s ({status})", end='')
        print(f"\nclick-to-update ({driver.server_name}) StrategyExplorer Run, full_finetune 1 epoch: "
              f"{TIMES[driver.server_name, 'StrategyExplorer: Run full_finetune']:.1f} s", end='')

def test_advisor_widget_probe_slider_changes_advice(page, capsys):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    driver = page
    advice = lambda: driver.find_element(By.XPATH, "//div[contains(@class, 'widget-html-content')][contains(., 'measured conditions nearest yours')]").text
    assert advice().startswith('linear_probe'), advice()
    before = _digest(driver, _images(driver)[2])
    slider = _control(driver, 'probe score', 'slider')
    assert slider.find_element(By.TAG_NAME, 'label').text == 'probe score'
    ActionChains(driver).click_and_hold(slider.find_element(By.CSS_SELECTOR, '.noUi-handle')).move_by_offset(-200, 0).move_by_offset(-200, 0).release().perform()
    cond, now = _changed(driver, 2, before)
    TIMES[driver.server_name, 'AdvisorWidget: drag probe score'] = _wait(cond, 30, 'the advisor plot to change after dragging the probe score')
    _wait(lambda: advice().startswith('full_finetune'), 10, lambda: f"the advice to become full_finetune at a far probe score; it says {advice()!r}")
    with capsys.disabled():
        print(f"\nclick-to-update ({driver.server_name}) AdvisorWidget drag probe score: {TIMES[driver.server_name, 'AdvisorWidget: drag probe score']:.2f} s", end='')

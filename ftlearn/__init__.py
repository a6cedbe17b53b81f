__version__ = "0.0.1"

import warnings as _warnings
# torch 2.14 deprecates torch.jit.script, which timm/fastai still call at import time: noise, not our users' concern.
_warnings.filterwarnings('ignore', message='`torch.jit.script` is deprecated')

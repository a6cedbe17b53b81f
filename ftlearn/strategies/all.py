"""Every built-in strategy: importing this module fills the registry (`STRATEGIES`) with all of them.

Written by hand, as fastai's `all.py` files are: it only imports (see nbs/06_strategies.core.ipynb for the registry)."""
from .core import *
from .frozen import *
from .finetune import *
from .top_k import *
from .peft import *
from .regularised import *
from .baselines import *

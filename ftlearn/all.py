"""`from ftlearn.all import *`: the public names of the whole library, as fastai's `all.py` gives its own.

Written by hand: it only imports. Importing it loads everything (torch, fastai, matplotlib, ipywidgets); a script
that needs less imports the module it uses (e.g. `from ftlearn.compare import compare`)."""
from .core import *
from .data.core import *
from .data.datasets import *
from .data.loaders import *
from .data.folders import *
from .data.shift import *
from .models.backbones import *
from .models.features import *
from .tasks.core import *
from .tasks.text import *
from .callback.budget import *
from .callback.batchnorm import *
from .callback.tracker import *
from .callback.guard import *
from .callback.regularise import *
from .metrics import *
from .strategies.all import *
from .deploy import *
from .ood import *
from .compare import *
from .parallel import *
from .tune import *
from .advise import *
from .plots import *
from .interpret import *
from .studies.wise_ft import *
from .studies.forgetting import *
from .studies.freeze_depth import *
from .studies.freezing import *
from .studies.compress import *
from .widgets import *

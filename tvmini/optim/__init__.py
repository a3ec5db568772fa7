"""optim: optimizers whose update is one fused kernel per parameter, and LR schedulers."""
from . import lr_scheduler
from .adagrad import Adagrad, RMSprop
from .adam import Adam, AdamW
from .adam_variants import Adadelta, Adamax, NAdam, RAdam
from .optimizer import Optimizer
from .rprop_asgd import ASGD, Rprop     # optim/rprop_asgd.py
from .lbfgs import LBFGS                # optim/lbfgs.py
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "Adagrad", "RMSprop", "Adamax", "NAdam", "RAdam", "Adadelta",
           "lr_scheduler",
           # optim/rprop_asgd.py, optim/lbfgs.py
           "Rprop", "ASGD", "LBFGS"]

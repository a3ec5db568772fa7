"""topi: the operator library — te definitions of tensor operators, their gradient
kernels, and default schedules per target (``default_schedule``).

Every function takes te tensors (and Python attributes) and returns te tensors; the graph
layer builds each op once per (shapes, dtypes, target) with ``default_schedule``.
"""
from .schedule import Knobs, Workload, default_schedule, register, tunable, workload
from .elemwise import *  # noqa: F401,F403
from .broadcast import *  # noqa: F401,F403
from .reduction import *  # noqa: F401,F403
from .transform import *  # noqa: F401,F403
from .gather import *  # noqa: F401,F403
from . import optim, random  # noqa: F401  (topi.optim.sgd_update/adam_update/..., topi.random.uniform/normal/...)
from . import schedule_cpu  # noqa: F401  (registers the CPU rules of the tags above)
from .nn import *  # noqa: F401,F403
from . import schedule_nn  # noqa: F401  (registers the CPU rules of nn tags)
from . import schedule_conv  # noqa: F401  (registers the CPU rules of conv/pool tags)
from . import schedule_cuda  # noqa: F401  (registers the CUDA rules of every tag)
from .conv import *  # noqa: F401,F403
from .pool import *  # noqa: F401,F403
from .scan import *  # noqa: F401,F403
from .sort import *  # noqa: F401,F403
from .search import *  # noqa: F401,F403  (searchsorted, consecutive_starts)
from .pad_modes import *  # noqa: F401,F403
from .resize import *  # noqa: F401,F403

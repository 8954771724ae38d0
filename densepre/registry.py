"""densepre registries: children of mmpretrain's, with scope ``densepre``.

Building a ``type`` from a densepre config (``default_scope='densepre'``) looks in densepre's
registry first and then in mmpretrain's and MMEngine's, so every mmpretrain / MMEngine component
(``ResNet``, ``LARS``, ``CosineEMA``, ``MultiView`` ...) is usable by name. mmdet / mmseg configs
reach densepre components by building them under densepre's scope with ``_scope_``, e.g.
``dict(type='PreciseBNHook', _scope_='densepre')``: a ``'densepre.X'`` type does not resolve from
mmdet's / mmseg's registries (densepre's registries are grandchildren of MMEngine's root, and a
scoped type is only looked up among the root's children).

Each registry lists the densepre package that holds its members (``locations``): building a type
imports that package first. METRICS / EVALUATORS live in :mod:`densepre.evaluation` (the frozen
dense evaluations, e.g. the DAVIS J&F metric).
"""
from mmengine.registry import Registry
from mmpretrain.registry import DATA_SAMPLERS as MMPRE_DATA_SAMPLERS
from mmpretrain.registry import DATASETS as MMPRE_DATASETS
from mmengine.registry import FUNCTIONS as MMENGINE_FUNCTIONS
from mmpretrain.registry import EVALUATORS as MMPRE_EVALUATORS
from mmpretrain.registry import HOOKS as MMPRE_HOOKS
from mmpretrain.registry import LOG_PROCESSORS as MMPRE_LOG_PROCESSORS
from mmpretrain.registry import LOOPS as MMPRE_LOOPS
from mmpretrain.registry import METRICS as MMPRE_METRICS
from mmpretrain.registry import MODEL_WRAPPERS as MMPRE_MODEL_WRAPPERS
from mmpretrain.registry import MODELS as MMPRE_MODELS
from mmpretrain.registry import OPTIM_WRAPPER_CONSTRUCTORS as \
    MMPRE_OPTIM_WRAPPER_CONSTRUCTORS
from mmpretrain.registry import OPTIM_WRAPPERS as MMPRE_OPTIM_WRAPPERS
from mmpretrain.registry import OPTIMIZERS as MMPRE_OPTIMIZERS
from mmpretrain.registry import PARAM_SCHEDULERS as MMPRE_PARAM_SCHEDULERS
from mmpretrain.registry import RUNNER_CONSTRUCTORS as \
    MMPRE_RUNNER_CONSTRUCTORS
from mmpretrain.registry import RUNNERS as MMPRE_RUNNERS
from mmpretrain.registry import TASK_UTILS as MMPRE_TASK_UTILS
from mmpretrain.registry import TRANSFORMS as MMPRE_TRANSFORMS
from mmpretrain.registry import VISBACKENDS as MMPRE_VISBACKENDS
from mmpretrain.registry import VISUALIZERS as MMPRE_VISUALIZERS
from mmpretrain.registry import \
    WEIGHT_INITIALIZERS as MMPRE_WEIGHT_INITIALIZERS

__all__ = [
    'RUNNERS', 'RUNNER_CONSTRUCTORS', 'LOOPS', 'HOOKS', 'LOG_PROCESSORS',
    'OPTIMIZERS', 'OPTIM_WRAPPERS', 'OPTIM_WRAPPER_CONSTRUCTORS',
    'PARAM_SCHEDULERS', 'DATASETS', 'DATA_SAMPLERS', 'TRANSFORMS', 'MODELS',
    'MODEL_WRAPPERS', 'WEIGHT_INITIALIZERS', 'TASK_UTILS', 'METRICS',
    'EVALUATORS', 'VISUALIZERS', 'VISBACKENDS', 'FUNCTIONS'
]


def _child(name, parent, *locations):
    return Registry(
        name, parent=parent, scope='densepre', locations=list(locations))


RUNNERS = _child('runner', MMPRE_RUNNERS, 'densepre.engine')
RUNNER_CONSTRUCTORS = _child('runner constructor', MMPRE_RUNNER_CONSTRUCTORS,
                             'densepre.engine')
LOOPS = _child('loop', MMPRE_LOOPS, 'densepre.engine')
# densepre.transfer.precise_bn: its PreciseBNHook must shadow mmpretrain's (same name, other
# arguments) whenever a densepre-scope config names it, imported or not
HOOKS = _child('hook', MMPRE_HOOKS, 'densepre.engine', 'densepre.transfer.precise_bn')
LOG_PROCESSORS = _child('log processor', MMPRE_LOG_PROCESSORS,
                        'densepre.engine')
OPTIMIZERS = _child('optimizer', MMPRE_OPTIMIZERS, 'densepre.engine')
OPTIM_WRAPPERS = _child('optim wrapper', MMPRE_OPTIM_WRAPPERS,
                        'densepre.engine')
OPTIM_WRAPPER_CONSTRUCTORS = _child('optimizer wrapper constructor',
                                    MMPRE_OPTIM_WRAPPER_CONSTRUCTORS,
                                    'densepre.engine')
PARAM_SCHEDULERS = _child('parameter scheduler', MMPRE_PARAM_SCHEDULERS,
                          'densepre.engine')
DATASETS = _child('dataset', MMPRE_DATASETS, 'densepre.datasets')
DATA_SAMPLERS = _child('data sampler', MMPRE_DATA_SAMPLERS,
                       'densepre.datasets')
TRANSFORMS = _child('transform', MMPRE_TRANSFORMS, 'densepre.datasets')
MODELS = _child('model', MMPRE_MODELS, 'densepre.models')
MODEL_WRAPPERS = _child('model_wrapper', MMPRE_MODEL_WRAPPERS,
                        'densepre.models')
WEIGHT_INITIALIZERS = _child('weight initializer', MMPRE_WEIGHT_INITIALIZERS,
                             'densepre.models')
TASK_UTILS = _child('task util', MMPRE_TASK_UTILS, 'densepre.models')
METRICS = _child('metric', MMPRE_METRICS, 'densepre.evaluation')
EVALUATORS = _child('evaluator', MMPRE_EVALUATORS, 'densepre.evaluation')
FUNCTIONS = _child('function', MMENGINE_FUNCTIONS, 'densepre.datasets')
VISUALIZERS = _child('visualizer', MMPRE_VISUALIZERS, 'densepre.engine')
VISBACKENDS = _child('vis_backend', MMPRE_VISBACKENDS, 'densepre.engine')

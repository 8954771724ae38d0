import datetime
import warnings

from mmengine import DefaultScope


def register_all_modules(init_default_scope: bool = True) -> None:
    """Register densepre's (and mmpretrain's) modules and make ``densepre`` the default scope."""
    import mmpretrain.utils

    mmpretrain.utils.register_all_modules(init_default_scope=False)
    import densepre.datasets  # noqa: F401
    import densepre.engine  # noqa: F401
    import densepre.models  # noqa: F401

    if not init_default_scope:
        return
    current = DefaultScope.get_current_instance()
    if current is None:
        DefaultScope.get_instance('densepre', scope_name='densepre')
    elif current.scope_name != 'densepre':
        warnings.warn(f'The current default scope "{current.scope_name}" is not "densepre"; '
                      'register_all_modules switches it to a new "densepre" scope.')
        DefaultScope.get_instance(f'densepre-{datetime.datetime.now()}', scope_name='densepre')

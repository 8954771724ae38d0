"""Every densepre registry points at modules that exist (MMEngine imports them on first build)."""
import importlib

import pytest

import densepre.registry as registry


@pytest.mark.parametrize('name', registry.__all__)
def test_registry_locations_import(name):
    reg = getattr(registry, name)
    for location in reg._locations:
        importlib.import_module(location)
    assert reg.scope == 'densepre'


def test_metrics_resolve_through_the_parent():
    assert registry.METRICS.get('Accuracy') is not None
    assert registry.EVALUATORS.get('Evaluator') is not None

"""The names of the inference methods, and where the models find them.

Layers import downward only (``core <- models <- inference``): an estimator in
:mod:`tradeimpact.models` never imports :mod:`tradeimpact.inference`. Yet ``did(...,
inference="ri")`` and ``result.with_inference("wild")`` must run an inference method. The
models therefore name the method, and the inference layer registers the function behind each
name here (``@register_inference("ri")`` in its modules). :func:`inference_method` loads the
inference layer the first time a name is asked for (by its module name, as an entry point
would be loaded), so the models run a method without importing its module, and the import graph
stays a tree (tests/test_import_graph.py checks it).

Contract of a registered function: ``fn(result, **options) -> inference result``, where
``result`` is a fitted result of :mod:`tradeimpact.models` and the inference result offers
``pvalue`` (float), ``p_fraction`` (a :class:`~fractions.Fraction` where the p-value is exact,
else None), ``conf_int(level) -> (low, high)``, ``method`` (a label) and ``tidy()`` (a one-row
:class:`polars.DataFrame`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from tradeimpact.errors import ModelSpecError

InferenceFunction = Callable[..., Any]

#: The module that registers the inference methods when it is imported.
INFERENCE_MODULE = "tradeimpact.inference"

_METHODS: dict[str, InferenceFunction] = {}


def register_inference(name: str) -> Callable[[InferenceFunction], InferenceFunction]:
    """Decorator: make ``fn`` the inference method called ``name``.

    Registering a name twice with different functions is an error (two modules would otherwise
    silently disagree about what ``inference=name`` means).
    """

    def deco(fn: InferenceFunction) -> InferenceFunction:
        old = _METHODS.get(name)
        if old is not None and old is not fn:
            raise ModelSpecError(
                f"inference method {name!r} is registered twice ({old.__module__}."
                f"{old.__qualname__} and {fn.__module__}.{fn.__qualname__})"
            )
        _METHODS[name] = fn
        return fn

    return deco


def inference_method(name: str) -> InferenceFunction:
    """The function registered as ``name``, loading the inference layer on first use.

    Raises :class:`~tradeimpact.errors.ModelSpecError` naming the registered methods when
    ``name`` is unknown.
    """
    if name not in _METHODS:
        importlib.import_module(INFERENCE_MODULE)
    try:
        return _METHODS[name]
    except KeyError:
        raise ModelSpecError(
            f"no inference method {name!r}; the methods are {available_methods()}"
        ) from None


def available_methods() -> list[str]:
    """The registered method names, sorted (after loading the inference layer)."""
    importlib.import_module(INFERENCE_MODULE)
    return sorted(_METHODS)

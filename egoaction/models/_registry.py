"""The model registry: ``register_model`` adds a factory, ``create_model`` is the one way to build a model.

A factory is ``fn(task_spec: dict[str, int], *, kw: T = default, ...) -> VideoModel``: one positional task
spec, then only typed, defaulted keyword arguments (checked at registration), so ``model_parameters`` can
document every knob and a config can be validated before anything is built.
"""

from __future__ import annotations

import difflib
import fnmatch
import inspect
import json
import os
from collections.abc import Callable
from typing import Any, TypeVar

from egoaction.models.base import VideoModel
from egoaction.models.conv3d_guard import guard_conv3d

__all__ = ["create_model", "list_models", "model_factory", "model_parameters", "register_model"]

ModelFactory = Callable[..., VideoModel]
F = TypeVar("F", bound=ModelFactory)

_MODELS: dict[str, ModelFactory] = {}


def _keyword_parameters(name: str, factory: ModelFactory) -> dict[str, inspect.Parameter]:
    """The factory's parameters after ``task_spec``; TypeError unless all are keyword-only with a default."""
    params = list(inspect.signature(factory).parameters.values())
    if not params or params[0].kind not in (params[0].POSITIONAL_ONLY, params[0].POSITIONAL_OR_KEYWORD):
        raise TypeError(f"model factory {name!r} must take task_spec as its first positional parameter")
    keywords = {}
    for p in params[1:]:
        if p.kind is not p.KEYWORD_ONLY or p.default is p.empty:
            raise TypeError(f"model factory {name!r}: parameter {p.name!r} must be keyword-only with a default")
        keywords[p.name] = p
    return keywords


def register_model(name: str) -> Callable[[F], F]:
    """Decorator registering a model factory under ``name``; a name already taken raises ValueError."""

    def add(factory: F) -> F:
        if name in _MODELS:
            raise ValueError(f"model {name!r} is already registered (by {_MODELS[name].__module__})")
        _keyword_parameters(name, factory)
        _MODELS[name] = factory
        return factory

    return add


def list_models(pattern: str = "*") -> list[str]:
    """Registered model names matching a shell-style ``pattern`` (e.g. ``"tsn_*"``), sorted."""
    return sorted(n for n in _MODELS if fnmatch.fnmatchcase(n, pattern))


def model_factory(name: str) -> ModelFactory:
    """The factory registered as ``name``; unknown -> ValueError naming the nearest registered names."""
    if name not in _MODELS:
        near = difflib.get_close_matches(name, list(_MODELS), n=3, cutoff=0.0)
        raise ValueError(f"unknown model {name!r}; nearest registered: {near} (see egoaction.models.list_models())")
    return _MODELS[name]


def model_parameters(name: str) -> dict[str, Any]:
    """The keyword parameters of model ``name`` with their defaults (for docs and config validation)."""
    return {k: p.default for k, p in _keyword_parameters(name, model_factory(name)).items()}


def _json_kwargs(name: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """``kwargs`` with paths turned into strings; TypeError if a value cannot go into a JSON checkpoint spec."""
    out = {k: os.fspath(v) if isinstance(v, os.PathLike) else v for k, v in kwargs.items()}
    for key, value in out.items():
        try:
            json.dumps(value)
        except TypeError:
            raise TypeError(
                f"model {name!r}: kwarg {key}={value!r} is not JSON-serialisable, so a checkpoint could not rebuild "
                "the model; pass plain numbers, strings, lists or dicts"
            ) from None
    return out


def create_model(name: str, task_spec: dict[str, int], **kwargs: Any) -> VideoModel:
    """Build model ``name`` with one head per task of ``task_spec``; records ``model.spec`` for checkpoints.

    An unknown name raises ValueError and an unknown kwarg TypeError, each naming the nearest valid choice.
    """
    factory = model_factory(name)
    valid = list(_keyword_parameters(name, factory))
    for key in kwargs:
        if key not in valid:
            near = difflib.get_close_matches(key, valid, n=1, cutoff=0.0)
            hint = f"did you mean {near[0]!r}? " if near else ""
            raise TypeError(f"model {name!r} has no parameter {key!r}; {hint}its parameters are {valid}")
    clean = _json_kwargs(name, kwargs)
    model = factory(task_spec, **clean)
    if not isinstance(model, VideoModel):
        raise TypeError(f"model factory {name!r} returned {type(model).__name__}, expected a VideoModel")
    guard_conv3d(model)  # CPU bf16 autocast gets short clips' 3D-conv weight gradients wrong (see conv3d_guard)
    model.spec = {"name": name, "kwargs": clean}
    return model

"""The model registry: `build_model(name, **config)` and `model_class(name)`."""

from __future__ import annotations

from typing import Any

from cfae.models.base import BaseModel
from cfae.registry import Registry

MODELS: Registry[type[BaseModel]] = Registry("model")


def register_model(name: str, help: str = ""):
    """Class decorator: registers the model and stamps its name on its Config."""

    def add(cls: type[BaseModel]) -> type[BaseModel]:
        cls.registry_name = name
        return MODELS.register(name, help)(cls)

    return add


def build_model(name: str, **config: Any) -> BaseModel:
    """Instantiate a registered model from config fields (unknown fields raise)."""
    cls = MODELS.get(name)
    return cls(cls.Config(name=name, **config))

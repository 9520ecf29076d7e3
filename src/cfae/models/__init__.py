"""Models: one contract (base.py), one registry; importing this package registers them all."""

from cfae.models import (  # noqa: F401  (registration side effects)
    ae, causal_vae, counterfactual_ae, factor_vae, hierarchical, mmd_vae, tcvae, vae, vaegan)
from cfae.models.base import BaseModel, LatentPart, ModelConfig, ModelOutput, Network, latent_layout
from cfae.models.registry import MODELS, build_model, register_model

__all__ = ["MODELS", "BaseModel", "LatentPart", "ModelConfig", "ModelOutput", "Network", "build_model",
           "latent_layout", "register_model"]

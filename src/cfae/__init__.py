"""cfae: counterfactual autoencoders in one package.

Train autoencoders whose latents can be manipulated, generate counterfactual images and
measure latent spaces and counterfactuals. See README.md for the tour.
"""

__version__ = "0.1.0"


def load(path, device="cpu"):
    """Rebuild a trained model from a run folder or checkpoint folder (safetensors + JSON)."""
    from cfae.train.checkpoint import load_model

    return load_model(path, device=device)


__all__ = ["__version__", "load"]

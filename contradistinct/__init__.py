"""contradistinct: losses and components for contradistinctive generative autoencoders."""

from contradistinct import backbones, functional

__version__ = "0.1.0.dev0"

__all__ = ["__version__", "backbones", "functional"]

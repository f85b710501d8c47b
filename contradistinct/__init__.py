"""contradistinct: losses and components for contradistinctive generative autoencoders."""

from contradistinct import functional, introspective, pga, toy

__version__ = "0.1.0.dev0"

__all__ = ["__version__", "functional", "introspective", "pga", "toy"]

"""What a backbone network offers to forward hooks, and the layers DC-VAE reads from its critic.

Every network of :mod:`contradistinct.backbones` answers ``net.taps(resolution)`` with the
qualified submodule names (as in ``named_modules()``) whose outputs
:class:`~contradistinct.FeatureTaps` can record when the network runs at that resolution. A
discriminator answers with a :class:`DiscriminatorTaps`, which also names its roles in the DC-VAE
losses, so that a trainer reads its default layers from the network instead of hard-coding
strings per backbone.
"""

from __future__ import annotations

from dataclasses import dataclass


def _check_names(names: object, field: str) -> tuple[str, ...]:
    if (
        isinstance(names, str)
        or not isinstance(names, tuple)
        or not all(isinstance(name, str) for name in names)
    ):
        raise TypeError(f"{field} must be a tuple of layer names, got {names!r}")
    return names


@dataclass(frozen=True)
class Taps:
    """The tap names of a backbone network at one resolution.

    Attributes:
        names: the qualified names of the submodules that run at that resolution and return a
            tensor, from the input side to the output side: what
            :class:`~contradistinct.FeatureTaps` can record.

    Example:
        >>> from contradistinct.backbones import AutoGANEncoder
        >>> AutoGANEncoder(latent_dim=8, width=16).taps().names
        ('block1', 'block2', 'block3', 'block4', 'pool', 'latent')
    """

    names: tuple[str, ...]

    def __post_init__(self) -> None:
        _check_names(self.names, "names")
        if not self.names:
            raise ValueError("names must list at least one layer, got ()")


@dataclass(frozen=True)
class DiscriminatorTaps(Taps):
    """The tap names of a discriminator, and the layers the DC-VAE losses read from it.

    Attributes:
        names: as in :class:`Taps`.
        contrast: the layers whose features the multi-scale instance loss contrasts by default
            (DC-VAE §4.2; at 32×32 the authors contrast "the output of second residual conv
            block" and "the output of the first linear layer", appendix A.5, which the authors'
            code, github.com/mlpc-ucsd/DC-VAE ``train.py``, names ``layers = ["b1", "final"]``).
        feature: the layer :math:`F_D` in which VAE/GAN reconstructs the input (DC-VAE Eq. 3).

    Raises:
        ValueError: ``contrast`` is empty, or ``contrast`` or ``feature`` names a layer that is
            not in ``names``.

    Example:
        >>> from contradistinct.backbones import AutoGANDiscriminator
        >>> taps = AutoGANDiscriminator(width=16).taps()
        >>> taps.contrast, taps.feature
        (('block1', 'pool'), 'block3')
    """

    contrast: tuple[str, ...]
    feature: str

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_names(self.contrast, "contrast")
        if not self.contrast:
            raise ValueError("contrast must list at least one layer, got ()")
        if not isinstance(self.feature, str):
            raise TypeError(f"feature must be a layer name, got {self.feature!r}")
        unknown = [name for name in (*self.contrast, self.feature) if name not in self.names]
        if unknown:
            raise ValueError(
                f"contrast and feature must be among names {self.names}, got {unknown} outside"
            )

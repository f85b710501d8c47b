"""AutoGAN-32 decoder, discriminator and encoder: DC-VAE's 32×32 networks (§5.1, Fig. 15).

The decoder is the AutoGAN generator (Gong et al., ICCV 2019); the discriminator is the AutoGAN
discriminator; the encoder is the same spectrally-normalised trunk with a linear layer to
``(mu, logvar)`` (DC-VAE appendix A.5). At the default widths the parameter counts equal those
of the DC-VAE authors' networks (github.com/mlpc-ucsd/DC-VAE, ``models/models_32.py``).

They share the calling convention of the ProGAN networks, ``encoder(x, alpha)``,
``decoder(z, resolution, alpha)`` and ``discriminator(x, alpha)``, and their tap API,
``net.taps(resolution)``: with a single resolution (``resolutions`` is
``(32,)``) there is nothing to fade in, so ``alpha`` is ignored, as ProGAN ignores it at 4×4.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm

from contradistinct._checks import check_positive_int
from contradistinct.backbones._inputs import check_alpha, check_images, check_latents
from contradistinct.backbones.autogan_blocks import (
    AutoGANCell,
    DiscriminatorBlock,
    OptimizedBlock,
    SumPool,
)
from contradistinct.backbones.taps import DiscriminatorTaps, Taps

RESOLUTION = 32
BOTTOM = 4


def _check_resolution(resolution: object) -> None:
    if resolution is not None and resolution != RESOLUTION:
        raise ValueError(
            f"resolution must be {RESOLUTION} (or None), the only resolution of the AutoGAN-32 "
            f"networks, got {resolution!r}"
        )


class AutoGANDecoder(nn.Module):
    r"""The AutoGAN-32 generator, used as the DC-VAE decoder at 32×32.

    .. math::

        h_0 &= \mathrm{reshape}_{C\times4\times4}(W z + b) \\
        (s_1, h_1) &= \mathrm{cell}_1(h_0) && \text{nearest, shortcut} \\
        (s_2, h_2) &= \mathrm{cell}_2(h_1; s_1) && \text{bilinear, shortcut} \\
        (\,\cdot\,, h_3) &= \mathrm{cell}_3(h_2; s_1, s_2) && \text{nearest, no shortcut} \\
        x &= \tanh\bigl(\mathrm{conv}_{3\times3}(\mathrm{ReLU}(\mathrm{BN}(h_3)))\bigr)

    with the cells of :class:`~contradistinct.backbones.autogan_blocks.AutoGANCell`
    (4 → 8 → 16 → 32). No spectral norm, as in AutoGAN; initialised by
    :meth:`reset_parameters` as in the authors' code. At the defaults
    (``latent_dim=128, width=256``) it has **4,405,251** parameters, the count of the DC-VAE
    authors' decoder.

    Tap names (:meth:`taps`): ``"project"`` (the ``(B, 16 C)`` projection of ``z``) and
    ``"to_rgb"`` (the images). The cells ``cell1`` ... ``cell3`` return ``(skip, features)``
    pairs, which :class:`~contradistinct.FeatureTaps` does not record.

    Args:
        latent_dim: ``D``, the size of ``z``.
        width: ``C``, channels of every cell.
        out_channels: image channels.

    Maps ``z`` of shape ``(B, D)`` to images ``(B, out_channels, 32, 32)`` in ``[-1, 1]``.

    Example:
        >>> import torch
        >>> from contradistinct.backbones import AutoGANDecoder
        >>> decoder = AutoGANDecoder()
        >>> sum(p.numel() for p in decoder.parameters())
        4405251
        >>> AutoGANDecoder(latent_dim=8, width=16)(torch.randn(2, 8)).shape
        torch.Size([2, 3, 32, 32])
    """

    #: The output resolutions (32 only).
    resolutions: ClassVar[tuple[int, ...]] = (RESOLUTION,)

    def __init__(self, latent_dim: int = 128, width: int = 256, *, out_channels: int = 3) -> None:
        super().__init__()
        self.latent_dim = check_positive_int(latent_dim, "latent_dim")
        self.width = check_positive_int(width, "width")
        check_positive_int(out_channels, "out_channels")
        self.project = nn.Linear(latent_dim, BOTTOM * BOTTOM * width)
        self.cell1 = AutoGANCell(width, "nearest", skip_ins=0, shortcut=True)
        self.cell2 = AutoGANCell(width, "bilinear", skip_ins=1, shortcut=True)
        self.cell3 = AutoGANCell(width, "nearest", skip_ins=2, shortcut=False)
        self.to_rgb = nn.Sequential(
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.Conv2d(width, out_channels, 3, padding=1),
            nn.Tanh(),
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Initialise as the DC-VAE authors do: Xavier-uniform conv weights, BN scale ~ N(1, 0.02).

        Linear layers and conv biases keep PyTorch's default initialisation; BN biases start at 0.
        """
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.xavier_uniform_(module.weight)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.normal_(module.weight, 1.0, 0.02)
                nn.init.zeros_(module.bias)

    def taps(self, resolution: int | None = None) -> Taps:
        """The tap names; ``resolution`` is 32 or ``None``."""
        _check_resolution(resolution)
        return Taps(("project", "to_rgb"))

    def forward(self, z: Tensor, resolution: int | None = None, alpha: float = 1.0) -> Tensor:
        """Decode latents ``z`` of shape ``(B, D)`` to images ``(B, out_channels, 32, 32)``.

        Args:
            z: latents, shape ``(B, D)``.
            resolution: 32 or ``None`` (the calling convention of
                :class:`~contradistinct.backbones.ProGANDecoder`).
            alpha: a float in ``[0, 1]``, ignored: there is no block to fade in.
        """
        _check_resolution(resolution)
        check_alpha(alpha)
        z = check_latents(z, "z", self.latent_dim)
        h = self.project(z).view(-1, self.width, BOTTOM, BOTTOM)
        skip1, h = self.cell1(h)
        skip2, h = self.cell2(h, [skip1])
        _, h = self.cell3(h, [skip1, skip2])
        return self.to_rgb(h)


class _AutoGANTrunk(nn.Module):
    """The spectrally-normalised residual trunk shared by the discriminator and the encoder."""

    #: The input resolutions (32 only).
    resolutions: ClassVar[tuple[int, ...]] = (RESOLUTION,)
    _TRUNK_TAPS: ClassVar[tuple[str, ...]] = ("block1", "block2", "block3", "block4", "pool")

    def __init__(self, width: int, in_channels: int) -> None:
        super().__init__()
        self.width = check_positive_int(width, "width")
        self.in_channels = check_positive_int(in_channels, "in_channels")
        self.block1 = OptimizedBlock(in_channels, width)
        self.block2 = DiscriminatorBlock(width, width, downsample=True)
        self.block3 = DiscriminatorBlock(width, width, downsample=False)
        self.block4 = DiscriminatorBlock(width, width, downsample=False)
        self.activation = nn.ReLU()
        self.pool = SumPool()

    def pooled(self, x: Tensor) -> Tensor:
        """The ``(B, C)`` sum-pooled features of images ``(B, in_channels, 32, 32)``."""
        x = check_images(x, "x", self.in_channels, (RESOLUTION,))
        h = self.block4(self.block3(self.block2(self.block1(x))))
        return self.pool(self.activation(h))


class AutoGANDiscriminator(_AutoGANTrunk):
    r"""The AutoGAN-32 discriminator, also the DC-VAE contrastive feature network at 32×32.

    .. math::

        h_1 &= \mathrm{opt\_block}(x) && 32 \to 16 \\
        h_4 &= \mathrm{block}_4(\mathrm{block}_3(\mathrm{block}_2(h_1))) && 16 \to 8 \to 8 \to 8 \\
        f &= \textstyle\sum_{h,w} \mathrm{ReLU}(h_4) \\
        \text{logit} &= W f
            \quad\text{or, with } \texttt{shared\_head}:\quad
            \text{logit} = W_2 (W_1 f) + b_2

    Pre-activation residual blocks with 2×2 average-pool downsampling
    (:class:`~contradistinct.backbones.autogan_blocks.OptimizedBlock`,
    :class:`~contradistinct.backbones.autogan_blocks.DiscriminatorBlock`); every convolution and
    linear layer is spectrally normalised.

    The plain head is AutoGAN's bias-free ``Linear(C → 1)``. ``shared_head=True`` is the
    DC-VAE authors' form: a bias-free ``Linear(C → embed_dim)`` (the ``embedding`` submodule,
    whose output is also the contrastive embedding of the pooled features) followed by
    ``Linear(embed_dim → 1)``.

    Tap names (:meth:`taps`; qualified submodule names for forward hooks, e.g. with
    :class:`~contradistinct.FeatureTaps`):

    - ``"block1"``: the ``(B, C, 16, 16)`` output of the optimised first block, which the
      authors contrast through a 1×1 conv to one channel and ``Linear(256 → 16)``;
    - ``"block2"``, ``"block3"``, ``"block4"``: ``(B, C, 8, 8)`` outputs of the other blocks;
    - ``"pool"``: the ``(B, C)`` sum-pooled features, which the authors contrast through a
      spectrally-normalised bias-free ``Linear(C → 16)``;
    - ``"embedding"`` (only with ``shared_head=True``): that ``(B, 16)`` projection itself,
      shared with the logit.

    ``taps().contrast`` is ``("block1", "pool")``, the two scales the authors contrast at
    32×32; ``taps().feature`` is ``"block3"``, an ``(B, C, 8, 8)`` map halfway up the trunk, for
    the feature reconstruction of VAE/GAN (Eq. 3), which the paper does not pin to a layer. At
    the default width the network has 1,053,824 parameters (trunk 1,053,696 + 128), or
    1,055,761 with ``shared_head=True``.

    Args:
        width: ``C``, channels of every block.
        in_channels: image channels.
        shared_head: compute the logit from the ``embed_dim`` embedding (authors' code).
        embed_dim: size of that embedding (16 in DC-VAE).

    Maps images ``(B, in_channels, 32, 32)`` to logits ``(B, 1)``.

    Example:
        >>> import torch
        >>> from contradistinct.backbones import AutoGANDiscriminator
        >>> sum(p.numel() for p in AutoGANDiscriminator().parameters())
        1053824
        >>> critic = AutoGANDiscriminator(width=16, shared_head=True)
        >>> critic(torch.randn(2, 3, 32, 32)).shape
        torch.Size([2, 1])
        >>> critic.taps().names
        ('block1', 'block2', 'block3', 'block4', 'pool', 'embedding')
    """

    def __init__(
        self,
        width: int = 128,
        *,
        in_channels: int = 3,
        shared_head: bool = False,
        embed_dim: int = 16,
    ) -> None:
        super().__init__(width, in_channels)
        check_positive_int(embed_dim, "embed_dim")
        self.shared_head = shared_head
        self.embedding: nn.Module | None
        if shared_head:
            self.embedding = spectral_norm(nn.Linear(width, embed_dim, bias=False))
            self.logit = spectral_norm(nn.Linear(embed_dim, 1))
        else:
            self.embedding = None
            self.logit = spectral_norm(nn.Linear(width, 1, bias=False))

    def taps(self, resolution: int | None = None) -> DiscriminatorTaps:
        """The tap names and the layers DC-VAE reads; ``resolution`` is 32 or ``None``."""
        _check_resolution(resolution)
        names = (*self._TRUNK_TAPS, "embedding") if self.shared_head else self._TRUNK_TAPS
        return DiscriminatorTaps(names, contrast=("block1", "pool"), feature="block3")

    def forward(self, x: Tensor, alpha: float = 1.0) -> Tensor:
        """Logits ``(B, 1)`` of images ``x`` of shape ``(B, in_channels, 32, 32)``.

        ``alpha``, a float in ``[0, 1]``, is ignored (the calling convention of
        :class:`~contradistinct.backbones.ProGANDiscriminator`).
        """
        check_alpha(alpha)
        features = self.pooled(x)
        if self.embedding is not None:
            features = self.embedding(features)
        return self.logit(features)


class AutoGANEncoder(_AutoGANTrunk):
    r"""The DC-VAE 32×32 encoder: the AutoGAN discriminator trunk ending in ``(mu, logvar)``.

    .. math::

        f = \textstyle\sum_{h,w} \mathrm{ReLU}(h_4), \qquad
        [\mu, \log\sigma^2] = W f \quad (W \in \mathbb R^{2D \times C},\ \text{no bias})

    The trunk is that of :class:`AutoGANDiscriminator` (spectral norm on every layer, including
    the final linear one, as in the DC-VAE appendix); the first ``D`` outputs are ``mu``, the
    last ``D`` are ``logvar``. At the defaults (``latent_dim=128, width=128``) it has
    **1,086,464** parameters (trunk 1,053,696 + ``Linear(128 → 256)``), the count of the DC-VAE
    authors' encoder. Tap names (:meth:`taps`) are those of the discriminator trunk,
    ``block1`` ... ``block4`` and ``pool``, and ``latent`` for the ``(B, 2D)`` output.

    Args:
        latent_dim: ``D``.
        width: ``C``, channels of every block.
        in_channels: image channels.

    Maps images ``(B, in_channels, 32, 32)`` to ``mu`` and ``logvar``, each ``(B, D)``.

    Example:
        >>> import torch
        >>> from contradistinct.backbones import AutoGANEncoder
        >>> sum(p.numel() for p in AutoGANEncoder().parameters())
        1086464
        >>> mu, logvar = AutoGANEncoder(latent_dim=8, width=16)(torch.randn(2, 3, 32, 32))
        >>> mu.shape, logvar.shape
        (torch.Size([2, 8]), torch.Size([2, 8]))
    """

    def __init__(self, latent_dim: int = 128, width: int = 128, *, in_channels: int = 3) -> None:
        super().__init__(width, in_channels)
        self.latent_dim = check_positive_int(latent_dim, "latent_dim")
        self.latent = spectral_norm(nn.Linear(width, 2 * latent_dim, bias=False))

    def taps(self, resolution: int | None = None) -> Taps:
        """The tap names; ``resolution`` is 32 or ``None``."""
        _check_resolution(resolution)
        return Taps((*self._TRUNK_TAPS, "latent"))

    def forward(self, x: Tensor, alpha: float = 1.0) -> tuple[Tensor, Tensor]:
        """``(mu, logvar)``, each ``(B, D)``, of images ``(B, in_channels, 32, 32)``.

        ``alpha``, a float in ``[0, 1]``, is ignored (the calling convention of
        :class:`~contradistinct.backbones.ProGANEncoder`).
        """
        check_alpha(alpha)
        mu, logvar = torch.chunk(self.latent(self.pooled(x)), 2, dim=1)
        return mu, logvar

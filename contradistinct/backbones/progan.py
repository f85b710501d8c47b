"""Progressive GAN decoder, discriminator and encoder, growing from 4×4 (DC-VAE §5.1).

Karras et al., *Progressive Growing of GANs* (ICLR 2018): equalised learning rate on every
convolution and linear layer, pixel norm in the generator, minibatch standard deviation in the
discriminator, one ``to_rgb`` / ``from_rgb`` per resolution and a fade-in weight ``alpha``
that blends a newly added block with the resized output of the previous resolution (Fig. 2).
DC-VAE uses these networks at 128×128 to 512×512 (§5.1, appendix A.5: "a Progressive GAN Generator
and Discriminator as our backbone" with the 32×32 modifications); the encoder is the discriminator
trunk ending in ``(mu, logvar)``. Every network answers ``net.taps(resolution)`` with the layers
that run at that resolution (:class:`~contradistinct.backbones.Taps`).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from contradistinct._checks import (
    check_module_device,
    check_nonempty_batch,
    check_positive_int,
    check_tensor,
)
from contradistinct.backbones._inputs import (
    check_alpha,
    check_images,
    check_latents,
    check_resolution,
    powers_of_two,
)
from contradistinct.backbones.layers import LEAKY_SLOPE, EqualizedLinear
from contradistinct.backbones.progan_blocks import (
    DecoderBlock,
    DecoderInputBlock,
    DiscriminatorBlock,
    DiscriminatorOutputBlock,
    downsample,
    from_rgb,
    to_rgb,
    upsample,
)
from contradistinct.backbones.taps import DiscriminatorTaps, Taps

MIN_RESOLUTION = 4
MAX_RESOLUTION = 1024


def progan_channels(resolution: int, *, channel_base: int = 16384, max_channels: int = 512) -> int:
    r"""Feature maps of the ProGAN blocks at one resolution (ProGAN Table 2).

    .. math::

        C(R) = \min\bigl(\text{max\_channels},\ \lfloor \text{channel\_base} / R \rfloor\bigr)

    The defaults give 512 up to 32×32, then halve: 256 at 64, 128 at 128, 64 at 256, 32 at
    512, 16 at 1024. Small values of both make tiny test networks.

    Args:
        resolution: ``R``, a power of two from 4 to 1024.
        channel_base: the numerator.
        max_channels: the cap.

    Returns:
        :math:`C(R)`, at least 1.

    Example:
        >>> from contradistinct.backbones import progan_channels
        >>> [progan_channels(r) for r in (4, 32, 64, 128, 256, 512, 1024)]
        [512, 512, 256, 128, 64, 32, 16]
    """
    check_resolution(resolution, "resolution", MIN_RESOLUTION, MAX_RESOLUTION)
    check_positive_int(channel_base, "channel_base")
    check_positive_int(max_channels, "max_channels")
    channels = min(max_channels, channel_base // resolution)
    if channels < 1:
        raise ValueError(
            f"channel_base={channel_base} leaves no channels at resolution {resolution}; "
            f"it must be at least {resolution}"
        )
    return channels


def _key(resolution: int) -> str:
    return f"{resolution}x{resolution}"


def _block(resolution: int) -> str:
    return f"blocks.{_key(resolution)}"


def _check_tap_resolution(resolution: int | None, resolutions: tuple[int, ...]) -> int:
    if resolution is None:
        return resolutions[-1]
    return check_resolution(resolution, "resolution", resolutions[0], resolutions[-1])


class ProGANDecoder(nn.Module):
    r"""The ProGAN generator as a decoder, growing from 4×4 to ``max_resolution``.

    At resolution :math:`R` (a power of two) with fade-in weight :math:`\alpha`,

    .. math::

        h_4 = \mathrm{block}_4(z), \quad h_{2r} = \mathrm{block}_{2r}(h_r), \qquad
        x = \tanh\Bigl((1 - \alpha)\,\mathrm{up}_{\times2}\bigl(\mathrm{rgb}_{R/2}(h_{R/2})\bigr)
            + \alpha\,\mathrm{rgb}_R(h_R)\Bigr)

    (ProGAN Fig. 2), with :class:`~contradistinct.backbones.progan_blocks.DecoderInputBlock`,
    :class:`~contradistinct.backbones.progan_blocks.DecoderBlock` (nearest upsampling, two
    conv3×3, leaky ReLU 0.2, pixel norm), linear 1×1 ``to_rgb`` layers and equalised learning
    rate everywhere. At ``alpha = 1`` only the new block's path is computed; at 4×4 ``alpha`` is
    ignored. Because nearest upsampling commutes with the element-wise ``tanh``, at
    ``alpha = 0`` the output equals the ``R/2`` output upsampled. The final ``tanh`` (not in
    ProGAN, whose output is linear) keeps reconstructions in the data range ``[-1, 1]`` like
    :class:`~contradistinct.backbones.AutoGANDecoder`.

    Channels follow :func:`progan_channels`. Tap names (:meth:`taps`): ``"blocks.4x4"``,
    ``"blocks.8x8"``, ... up to the resolution decoded, each the ``(B, C(R), R, R)`` features of
    that resolution.

    Args:
        latent_dim: ``D`` (512 in ProGAN).
        max_resolution: the largest ``R``, a power of two from 8 to 1024.
        out_channels: image channels.
        channel_base: see :func:`progan_channels`.
        max_channels: see :func:`progan_channels`.

    Maps ``z`` of shape ``(B, D)`` to images ``(B, out_channels, R, R)`` in ``[-1, 1]``.

    Example:
        >>> import torch
        >>> from contradistinct.backbones import ProGANDecoder
        >>> decoder = ProGANDecoder(16, max_resolution=32, channel_base=128, max_channels=16)
        >>> decoder(torch.randn(2, 16)).shape
        torch.Size([2, 3, 32, 32])
        >>> decoder(torch.randn(2, 16), resolution=16, alpha=0.5).shape
        torch.Size([2, 3, 16, 16])
        >>> decoder.taps(resolution=16).names
        ('blocks.4x4', 'blocks.8x8', 'blocks.16x16')
    """

    def __init__(
        self,
        latent_dim: int = 512,
        max_resolution: int = 128,
        *,
        out_channels: int = 3,
        channel_base: int = 16384,
        max_channels: int = 512,
    ) -> None:
        super().__init__()
        self.latent_dim = check_positive_int(latent_dim, "latent_dim")
        check_positive_int(out_channels, "out_channels")
        self.max_resolution = check_resolution(max_resolution, "max_resolution", 8, MAX_RESOLUTION)
        #: The output resolutions, ``(4, 8, ..., max_resolution)``.
        self.resolutions: tuple[int, ...] = powers_of_two(MIN_RESOLUTION, max_resolution)
        channels = {
            r: progan_channels(r, channel_base=channel_base, max_channels=max_channels)
            for r in self.resolutions
        }
        blocks: dict[str, nn.Module] = {_key(4): DecoderInputBlock(latent_dim, channels[4])}
        for r in self.resolutions[1:]:
            blocks[_key(r)] = DecoderBlock(channels[r // 2], channels[r])
        self.blocks = nn.ModuleDict(blocks)
        self.to_rgb = nn.ModuleDict(
            {_key(r): to_rgb(channels[r], out_channels) for r in self.resolutions}
        )

    def taps(self, resolution: int | None = None) -> Taps:
        """The blocks that run when decoding at ``resolution`` (default: the largest)."""
        resolution = _check_tap_resolution(resolution, self.resolutions)
        return Taps(tuple(_block(r) for r in self.resolutions if r <= resolution))

    def forward(self, z: Tensor, resolution: int | None = None, alpha: float = 1.0) -> Tensor:
        """Decode ``z`` of shape ``(B, D)`` at ``resolution`` (default: the largest).

        Args:
            z: latents, shape ``(B, D)``.
            resolution: the output size ``R``, a power of two from 4 to ``max_resolution``.
            alpha: fade-in weight of the ``R`` block, a Python float in ``[0, 1]``.

        Returns:
            Images ``(B, out_channels, R, R)`` in ``[-1, 1]``.
        """
        z = check_latents(z, "z", self.latent_dim)
        check_module_device(z, "z", next(self.parameters()), "ProGANDecoder")
        if resolution is None:
            resolution = self.max_resolution
        check_resolution(resolution, "resolution", MIN_RESOLUTION, self.max_resolution)
        alpha = check_alpha(alpha)
        h = self.blocks[_key(4)](z)
        for r in self.resolutions[1 : self.resolutions.index(resolution)]:
            h = self.blocks[_key(r)](h)
        if resolution == MIN_RESOLUTION:
            return torch.tanh(self.to_rgb[_key(4)](h))
        new = self.to_rgb[_key(resolution)](self.blocks[_key(resolution)](h))
        if alpha == 1.0:
            return torch.tanh(new)
        old = upsample(self.to_rgb[_key(resolution // 2)](h))
        return torch.tanh(torch.lerp(old, new, alpha))


class _ProGANTrunk(nn.Module):
    """The ProGAN discriminator trunk from any active resolution down to pooled ``C(4)`` features.

    Submodules: ``from_rgb`` and ``blocks`` (``ModuleDict`` keyed ``"RxR"``) and ``features``
    (flatten, equalised ``Linear(16 C → C)``, leaky ReLU).
    """

    def __init__(
        self,
        max_resolution: int,
        in_channels: int,
        channel_base: int,
        max_channels: int,
        *,
        minibatch_std: bool,
    ) -> None:
        super().__init__()
        self.in_channels = check_positive_int(in_channels, "in_channels")
        self.max_resolution = check_resolution(max_resolution, "max_resolution", 8, MAX_RESOLUTION)
        #: The input resolutions, ``(4, 8, ..., max_resolution)``.
        self.resolutions: tuple[int, ...] = powers_of_two(MIN_RESOLUTION, max_resolution)
        channels = {
            r: progan_channels(r, channel_base=channel_base, max_channels=max_channels)
            for r in self.resolutions
        }
        self.from_rgb = nn.ModuleDict(
            {_key(r): from_rgb(in_channels, channels[r]) for r in self.resolutions}
        )
        blocks: dict[str, nn.Module] = {
            _key(r): DiscriminatorBlock(channels[r], channels[r // 2])
            for r in reversed(self.resolutions[1:])
        }
        blocks[_key(4)] = DiscriminatorOutputBlock(channels[4], minibatch_std=minibatch_std)
        self.blocks = nn.ModuleDict(blocks)
        self.features = nn.Sequential(
            nn.Flatten(),
            EqualizedLinear(16 * channels[4], channels[4]),
            nn.LeakyReLU(LEAKY_SLOPE),
        )
        self.out_features = channels[4]

    def _trunk_taps(self, resolution: int | None) -> tuple[str, ...]:
        """The blocks that run on an input of ``resolution``, then ``features``."""
        resolution = _check_tap_resolution(resolution, self.resolutions)
        blocks = tuple(_block(r) for r in reversed(self.resolutions) if r <= resolution)
        return (*blocks, "features")

    def trunk(self, x: Tensor, alpha: float) -> Tensor:
        """The ``(B, C(4))`` features of images ``(B, in_channels, R, R)`` at fade-in ``alpha``."""
        x = check_images(x, "x", self.in_channels, self.resolutions)
        check_module_device(x, "x", next(self.parameters()), type(self).__name__)
        alpha = check_alpha(alpha)
        resolution = x.shape[-1]
        h = self.blocks[_key(resolution)](self.from_rgb[_key(resolution)](x))
        if resolution > MIN_RESOLUTION:
            if alpha != 1.0:
                old = self.from_rgb[_key(resolution // 2)](downsample(x))
                h = torch.lerp(old, h, alpha)
            r = resolution // 2
            while r >= MIN_RESOLUTION:
                h = self.blocks[_key(r)](h)
                r //= 2
        return self.features(h)


class ProGANDiscriminator(_ProGANTrunk):
    r"""The ProGAN discriminator, reading any resolution from 4×4 to ``max_resolution``.

    For an input of resolution :math:`R` (read from its shape) and fade-in weight
    :math:`\alpha`,

    .. math::

        h_{R/2} = (1 - \alpha)\,\mathrm{frgb}_{R/2}\bigl(\mathrm{avgpool}(x)\bigr)
            + \alpha\,\mathrm{block}_R\bigl(\mathrm{frgb}_R(x)\bigr), \qquad
        h_{r/2} = \mathrm{block}_r(h_r)

    (ProGAN Fig. 2), down to 4×4, where the output block applies minibatch standard deviation
    (:class:`~contradistinct.backbones.MinibatchStdDev`, group size 4), conv3×3 and leaky ReLU;
    then ``features`` (flatten, dense, leaky ReLU) and a linear ``logit``. Every conv and linear
    layer has an equalised learning rate. At 4×4 ``alpha`` is ignored. The batch size must be
    divisible by ``min(4, B)``.

    Tap names (:meth:`taps`): ``"blocks.RxR"`` for the block reading resolution ``R`` (its
    output is ``R/2`` wide; ``"blocks.4x4"`` outputs ``(B, C(4), 4, 4)``), from the input
    resolution down, and ``"features"``, the ``(B, C(4))`` features before the logit. Both run at
    every resolution, so they hold the roles of
    :class:`~contradistinct.backbones.DiscriminatorTaps`: ``contrast`` is
    ``("blocks.4x4", "features")``, the lowest convolutional map and the final dense features,
    the counterparts of the two AutoGAN-32 scales; ``feature`` (Eq. 3) is ``"blocks.4x4"``.

    Args:
        max_resolution: the largest ``R``, a power of two from 8 to 1024.
        in_channels: image channels.
        channel_base: see :func:`progan_channels`.
        max_channels: see :func:`progan_channels`.

    Maps images ``(B, in_channels, R, R)`` to logits ``(B, 1)``.

    Example:
        >>> import torch
        >>> from contradistinct.backbones import ProGANDiscriminator
        >>> critic = ProGANDiscriminator(32, channel_base=128, max_channels=16)
        >>> critic(torch.randn(4, 3, 32, 32)).shape
        torch.Size([4, 1])
        >>> critic(torch.randn(4, 3, 16, 16), alpha=0.3).shape
        torch.Size([4, 1])
        >>> taps = critic.taps(resolution=16)
        >>> taps.names
        ('blocks.16x16', 'blocks.8x8', 'blocks.4x4', 'features')
        >>> taps.contrast, taps.feature
        (('blocks.4x4', 'features'), 'blocks.4x4')
    """

    def __init__(
        self,
        max_resolution: int = 128,
        *,
        in_channels: int = 3,
        channel_base: int = 16384,
        max_channels: int = 512,
    ) -> None:
        super().__init__(
            max_resolution, in_channels, channel_base, max_channels, minibatch_std=True
        )
        self.logit = EqualizedLinear(self.out_features, 1, gain=1.0)

    def taps(self, resolution: int | None = None) -> DiscriminatorTaps:
        """The layers that run on inputs of ``resolution`` (default: the largest), and DC-VAE's."""
        return DiscriminatorTaps(
            self._trunk_taps(resolution), contrast=(_block(4), "features"), feature=_block(4)
        )

    def forward(self, x: Tensor, alpha: float = 1.0) -> Tensor:
        """Logits ``(B, 1)`` of images ``(B, in_channels, R, R)`` (``B >= 1``), fading in ``R``."""
        # Checked before any layer runs: minibatch standard deviation has no value for B = 0.
        check_nonempty_batch(check_tensor(x, "x"), "x")
        return self.logit(self.trunk(x, alpha))


class ProGANEncoder(_ProGANTrunk):
    r"""The ProGAN discriminator trunk as an encoder, ending in ``(mu, logvar)``.

    The trunk and fade-in are those of :class:`ProGANDiscriminator`, except that the output
    block has no minibatch standard deviation, so that each code depends on its own image only;
    a linear equalised layer maps the ``features`` to :math:`[\mu, \log\sigma^2]`:

    .. math::

        [\mu, \log\sigma^2] = W f + b, \qquad W \in \mathbb R^{2D \times C(4)}.

    Tap names (:meth:`taps`): those of the discriminator (``"blocks.RxR"``, ``"features"``)
    and ``"latent"``.

    Args:
        latent_dim: ``D`` (512 in DC-VAE's ProGAN models).
        max_resolution: the largest ``R``, a power of two from 8 to 1024.
        in_channels: image channels.
        channel_base: see :func:`progan_channels`.
        max_channels: see :func:`progan_channels`.

    Maps images ``(B, in_channels, R, R)`` to ``mu`` and ``logvar``, each ``(B, D)``.

    Example:
        >>> import torch
        >>> from contradistinct.backbones import ProGANEncoder
        >>> encoder = ProGANEncoder(8, max_resolution=16, channel_base=64, max_channels=8)
        >>> mu, logvar = encoder(torch.randn(3, 3, 16, 16))
        >>> mu.shape, logvar.shape
        (torch.Size([3, 8]), torch.Size([3, 8]))
    """

    def __init__(
        self,
        latent_dim: int = 512,
        max_resolution: int = 128,
        *,
        in_channels: int = 3,
        channel_base: int = 16384,
        max_channels: int = 512,
    ) -> None:
        super().__init__(
            max_resolution, in_channels, channel_base, max_channels, minibatch_std=False
        )
        self.latent_dim = check_positive_int(latent_dim, "latent_dim")
        self.latent = EqualizedLinear(self.out_features, 2 * latent_dim, gain=1.0)

    def taps(self, resolution: int | None = None) -> Taps:
        """The layers that run on inputs of ``resolution`` (default: the largest)."""
        return Taps((*self._trunk_taps(resolution), "latent"))

    def forward(self, x: Tensor, alpha: float = 1.0) -> tuple[Tensor, Tensor]:
        """``(mu, logvar)``, each ``(B, D)``, of images ``(B, in_channels, R, R)``."""
        mu, logvar = torch.chunk(self.latent(self.trunk(x, alpha)), 2, dim=1)
        return mu, logvar

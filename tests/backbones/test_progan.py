"""ProGAN networks: growing, fade-in, channel schedule, gradients, taps and bad input."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from contradistinct import FeatureTaps
from contradistinct.backbones import (
    DiscriminatorTaps,
    EqualizedConv2d,
    EqualizedLinear,
    MinibatchStdDev,
    PixelNorm,
    ProGANDecoder,
    ProGANDiscriminator,
    ProGANEncoder,
    progan_channels,
)

# Tiny widths keep every resolution cheap on CPU: C(R) = min(8, 256 // R).
SMALL = {"channel_base": 256, "max_channels": 8}
RESOLUTIONS = [4, 8, 16, 32]
BATCHES = [1, 2, 3, 4, 8]  # divisible by min(4, B), as minibatch stddev needs


@pytest.fixture(scope="module")
def decoder() -> ProGANDecoder:
    return ProGANDecoder(6, max_resolution=32, **SMALL)


@pytest.fixture(scope="module")
def critic() -> ProGANDiscriminator:
    return ProGANDiscriminator(32, **SMALL)


@pytest.fixture(scope="module")
def encoder() -> ProGANEncoder:
    return ProGANEncoder(5, max_resolution=32, **SMALL)


def test_channel_schedule_is_progans():
    assert [progan_channels(2**k) for k in range(2, 11)] == [
        512,
        512,
        512,
        512,
        256,
        128,
        64,
        32,
        16,
    ]
    assert progan_channels(64, channel_base=256, max_channels=8) == 4
    with pytest.raises(ValueError, match="leaves no channels at resolution 1024"):
        progan_channels(1024, channel_base=512)
    with pytest.raises(ValueError, match="power of two from 4 to 1024, got 48"):
        progan_channels(48)


def test_default_1024_networks_have_progans_size():
    # ProGAN Table 2: 23.1M parameters in each of the generator and the discriminator.
    counts = {
        name: sum(p.numel() for p in net.parameters())
        for name, net in (
            ("decoder", ProGANDecoder(max_resolution=1024)),
            ("discriminator", ProGANDiscriminator(1024)),
            ("encoder", ProGANEncoder(max_resolution=1024)),
        )
    }
    print(f"\nProGAN-1024 parameters: {counts}")
    assert round(counts["decoder"] / 1e6, 1) == 23.1
    assert round(counts["discriminator"] / 1e6, 1) == 23.1


@settings(max_examples=10)
@given(
    batch=st.sampled_from(BATCHES),
    resolution=st.sampled_from(RESOLUTIONS),
    alpha=st.floats(0.0, 1.0),
    scale=st.floats(0.1, 100.0),
)
def test_decoder_shapes_and_range(decoder, batch, resolution, alpha, scale):
    x = decoder(scale * torch.randn(batch, 6), resolution, alpha)
    assert x.shape == (batch, 3, resolution, resolution)
    assert x.abs().max() <= 1.0


@settings(max_examples=10)
@given(
    batch=st.sampled_from(BATCHES),
    resolution=st.sampled_from(RESOLUTIONS),
    alpha=st.floats(0.0, 1.0),
    latent_dim=st.integers(1, 12),
)
def test_discriminator_and_encoder_shapes(critic, batch, resolution, alpha, latent_dim):
    x = torch.rand(batch, 3, resolution, resolution) * 2 - 1
    assert critic(x, alpha).shape == (batch, 1)
    encoder = ProGANEncoder(latent_dim, max_resolution=32, **SMALL)
    mu, logvar = encoder(x, alpha)
    assert mu.shape == logvar.shape == (batch, latent_dim)


@pytest.mark.parametrize("resolution", [8, 16, 32])
def test_decoder_fade_in(decoder, resolution):
    z = torch.randn(3, 6)
    h = decoder.blocks["4x4"](z)
    for r in (8, 16, 32)[: RESOLUTIONS.index(resolution) - 1]:
        h = decoder.blocks[f"{r}x{r}"](h)
    old = F.interpolate(decoder.to_rgb[f"{resolution // 2}x{resolution // 2}"](h), scale_factor=2)
    new = decoder.to_rgb[f"{resolution}x{resolution}"](
        decoder.blocks[f"{resolution}x{resolution}"](h)
    )
    # alpha = 1: the new block's path alone.
    torch.testing.assert_close(decoder(z, resolution, 1.0), torch.tanh(new))
    # alpha = 0: the previous resolution's image, upsampled.
    previous = F.interpolate(decoder(z, resolution // 2), scale_factor=2, mode="nearest")
    torch.testing.assert_close(decoder(z, resolution, 0.0), previous)
    # In between: the linear blend, before the tanh (ProGAN Fig. 2).
    torch.testing.assert_close(decoder(z, resolution, 0.3), torch.tanh(0.7 * old + 0.3 * new))


@pytest.mark.parametrize("resolution", [8, 16, 32])
def test_discriminator_fade_in_endpoints(critic, encoder, resolution):
    x = torch.randn(4, 3, resolution, resolution)
    # alpha = 0: the previous resolution's network on the downsampled image.
    for net in (critic, encoder):
        previous = net(F.avg_pool2d(x, 2))
        faded = net(x, 0.0)
        for a, b in zip(
            previous if isinstance(previous, tuple) else (previous,),
            faded if isinstance(faded, tuple) else (faded,),
            strict=True,
        ):
            torch.testing.assert_close(a, b)
    # alpha = 1: the new block's path alone.
    h = critic.from_rgb[f"{resolution}x{resolution}"](x)
    r = resolution
    while r >= 4:
        h = critic.blocks[f"{r}x{r}"](h)
        r //= 2
    torch.testing.assert_close(critic(x, 1.0), critic.logit(critic.features(h)))


def test_every_conv_and_linear_is_equalized_and_norms_are_where_documented(decoder, critic):
    for net in (decoder, critic, ProGANEncoder(2, max_resolution=8, **SMALL)):
        plain = [n for n, m in net.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
        assert plain == []
        assert any(isinstance(m, (EqualizedConv2d, EqualizedLinear)) for m in net.modules())
    decoder_norms = sum(isinstance(m, PixelNorm) for m in decoder.modules())
    assert decoder_norms == 1 + 2 + 2 * 3  # latent, 4x4 block, two per later block
    assert not any(isinstance(m, PixelNorm) for m in critic.modules())
    stddevs = [n for n, m in critic.named_modules() if isinstance(m, MinibatchStdDev)]
    assert stddevs == ["blocks.4x4.0"]
    encoder = ProGANEncoder(2, max_resolution=8, **SMALL)
    assert not any(isinstance(m, MinibatchStdDev) for m in encoder.modules())


def test_encoder_codes_do_not_depend_on_the_rest_of_the_batch(encoder):
    x = torch.randn(4, 3, 32, 32)
    mu_batch, _ = encoder(x)
    mu_alone, _ = encoder(x[:1])
    torch.testing.assert_close(mu_batch[:1], mu_alone)


@pytest.mark.parametrize("resolution", [8, 32])
def test_gradients_reach_every_parameter_on_the_active_path(resolution):
    z, x = torch.randn(4, 6), torch.randn(4, 3, resolution, resolution)
    cases = [
        (ProGANDecoder(6, max_resolution=32, **SMALL), "to_rgb", lambda n: n(z, resolution, 0.5)),
        (ProGANDiscriminator(32, **SMALL), "from_rgb", lambda n: n(x, 0.5)),
        (ProGANEncoder(5, max_resolution=32, **SMALL), "from_rgb", lambda n: n(x, 0.5)),
    ]
    for net, rgb, run in cases:
        out = run(net)
        loss = sum(o.square().sum() for o in out) if isinstance(out, tuple) else out.square().sum()
        loss.backward()
        # Off the path: blocks and RGB layers above the resolution, RGB layers below the pair
        # of resolutions that the fade-in blends.
        unused = {f"{kind}.{r}x{r}" for kind in ("blocks", rgb) for r in (16, 32) if r > resolution}
        unused |= {f"{rgb}.{r}x{r}" for r in RESOLUTIONS if r < resolution // 2}
        expected = {
            n for n, _ in net.named_parameters() if ".".join(n.split(".")[:2]) not in unused
        }
        got = {n for n, p in net.named_parameters() if p.grad is not None and p.grad.any()}
        assert got == expected, type(net).__name__


def capture(module: nn.Module, names: tuple[str, ...], *args: object) -> dict[str, torch.Tensor]:
    with FeatureTaps(module, names) as taps:
        module(*args)
        return taps.features()


def test_decoder_taps_are_the_blocks_up_to_the_resolution(decoder):
    assert decoder.resolutions == (4, 8, 16, 32)
    assert decoder.taps() == decoder.taps(32)
    assert decoder.taps(8).names == ("blocks.4x4", "blocks.8x8")
    features = capture(decoder, decoder.taps().names, torch.randn(2, 6))
    for r, name in zip(decoder.resolutions, decoder.taps().names, strict=True):
        assert features[name].shape == (2, progan_channels(r, **SMALL), r, r)


@pytest.mark.parametrize("resolution", RESOLUTIONS)
def test_discriminator_and_encoder_taps_are_the_layers_that_run(critic, encoder, resolution):
    taps = critic.taps(resolution)
    assert isinstance(taps, DiscriminatorTaps)
    assert taps.contrast == ("blocks.4x4", "features") and taps.feature == "blocks.4x4"
    readers = [r for r in reversed(RESOLUTIONS) if r <= resolution]
    assert taps.names == (*[f"blocks.{r}x{r}" for r in readers], "features")
    assert encoder.taps(resolution).names == (*taps.names, "latent")
    # Every listed layer runs, also while the newest block fades in.
    x = torch.randn(2, 3, resolution, resolution)
    features = capture(critic, taps.names, x, 0.5)
    for r in readers:
        out = max(r // 2, 4)
        assert features[f"blocks.{r}x{r}"].shape == (2, progan_channels(out, **SMALL), out, out)
    assert features["features"].shape == (2, 8)
    assert capture(encoder, encoder.taps(resolution).names, x, 0.5)["latent"].shape == (2, 10)
    with pytest.raises(ValueError, match="resolution must be a power of two from 4 to 32"):
        critic.taps(64)


def test_forward_at_128_with_small_widths():
    decoder = ProGANDecoder(16, max_resolution=128, channel_base=1024, max_channels=16)
    critic = ProGANDiscriminator(128, channel_base=1024, max_channels=16)
    x = decoder(torch.randn(2, 16), alpha=0.5)
    assert x.shape == (2, 3, 128, 128)
    assert critic(x, 0.5).shape == (2, 1)


@pytest.mark.parametrize("max_resolution", [256, 512, 1024])
def test_large_resolutions_shapes(max_resolution):
    widths = {"channel_base": max_resolution, "max_channels": 2}
    decoder = ProGANDecoder(4, max_resolution=max_resolution, **widths)
    critic = ProGANDiscriminator(max_resolution, **widths)
    encoder = ProGANEncoder(3, max_resolution=max_resolution, **widths)
    with torch.no_grad():
        x = decoder(torch.randn(1, 4), alpha=0.5)
        assert x.shape == (1, 3, max_resolution, max_resolution)
        assert critic(x, 0.5).shape == (1, 1)
        assert encoder(x)[0].shape == (1, 3)


def test_bf16_autocast_forward_is_finite(decoder, critic, encoder):
    with torch.autocast("cpu", dtype=torch.bfloat16):
        x = decoder(torch.randn(4, 6), 16, 0.5)
        outputs = [x, critic(x, 0.5), *encoder(x, 0.5)]
    assert all(torch.isfinite(out.float()).all() for out in outputs)


def test_bad_inputs_name_expected_and_received_shapes(decoder, critic, encoder):
    with pytest.raises(ValueError, match=r"\(B, 3, R, R\) with R = 4 or 8 or 16 or 32.*\(2, 1, 8"):
        critic(torch.randn(2, 1, 8, 8))
    with pytest.raises(ValueError, match=r"R = 4 or 8 or 16 or 32, got \(2, 3, 64, 64\)"):
        encoder(torch.randn(2, 3, 64, 64))
    with pytest.raises(ValueError, match=r"got \(2, 3, 12, 12\)"):
        critic(torch.randn(2, 3, 12, 12))
    with pytest.raises(ValueError, match=r"got \(2, 3, 16, 8\)"):
        critic(torch.randn(2, 3, 16, 8))
    with pytest.raises(ValueError, match=r"z must have shape \(B, 6\), got \(2, 7\)"):
        decoder(torch.randn(2, 7))
    with pytest.raises(ValueError, match="resolution must be a power of two from 4 to 32, got 64"):
        decoder(torch.randn(2, 6), 64)
    with pytest.raises(ValueError, match=r"alpha must be in \[0, 1\], got 1.5"):
        decoder(torch.randn(2, 6), 8, 1.5)
    with pytest.raises(TypeError, match="alpha must be a float"):
        critic(torch.randn(2, 3, 8, 8), torch.tensor(0.5))
    with pytest.raises(ValueError, match="divisible by the group size 4"):
        critic(torch.randn(6, 3, 8, 8))
    with pytest.raises(ValueError, match="max_resolution must be a power of two from 8 to 1024"):
        ProGANDecoder(max_resolution=4)
    with pytest.raises(ValueError, match="max_resolution must be a power of two from 8 to 1024"):
        ProGANDiscriminator(2048)


def test_the_discriminator_refuses_an_empty_batch_and_the_others_return_one(
    decoder, critic, encoder
):
    # issue 14: ZeroDivisionError inside minibatch standard deviation. A batch of nothing has
    # no standard deviation; the decoder and the encoder map it to nothing, as nn.Conv2d does.
    with pytest.raises(
        ValueError, match=r"x must hold at least one sample, got shape \(0, 3, 8, 8"
    ):
        critic(torch.randn(0, 3, 8, 8))
    mu, logvar = encoder(torch.randn(0, 3, 8, 8))
    assert mu.shape == logvar.shape == (0, encoder.latent_dim)
    assert decoder(torch.randn(0, decoder.latent_dim), 8).shape == (0, 3, 8, 8)

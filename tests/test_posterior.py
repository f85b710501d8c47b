"""The one reader of an encoder's posterior: every accepted form, and what a refusal says."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch.distributions import Independent, Normal

import contradistinct as cd
from contradistinct.posterior import Posterior, as_posterior, describe


@given(batch=st.integers(1, 5), dims=st.lists(st.integers(1, 4), min_size=1, max_size=3))
def test_a_pair_of_same_shape_tensors_comes_back_as_is(batch: int, dims: list[int]) -> None:
    mu, logvar = torch.randn(batch, *dims), torch.randn(batch, *dims)
    for output in ((mu, logvar), [mu, logvar], Posterior(mu, logvar)):
        got_mu, got_logvar = as_posterior(output, "encoder(x)")
        assert got_mu is mu and got_logvar is logvar


@given(
    std=st.lists(st.floats(1e-3, 1e3), min_size=1, max_size=6),
    scale=st.sampled_from(["std", "var", "normal", "independent"]),
)
def test_every_scale_gives_the_same_log_variance(std: list[float], scale: str) -> None:
    sigma = torch.tensor([std], dtype=torch.float64)
    mu = torch.zeros_like(sigma)
    if scale == "std":
        posterior = as_posterior((mu, sigma), scale="std")
    elif scale == "var":
        posterior = as_posterior((mu, sigma.square()), scale="var")
    elif scale == "normal":
        posterior = as_posterior(Normal(mu, sigma))
    else:
        posterior = as_posterior(Independent(Normal(mu, sigma), 1))
    assert posterior.mu is mu
    torch.testing.assert_close(posterior.logvar.mul(0.5).exp(), sigma)


@dataclass
class EncoderOutput:
    loc: torch.Tensor
    log_var: torch.Tensor


class AttributeOutput:
    def __init__(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        self.mean, self.std = mean, std


def test_output_objects_are_read_through_named_fields() -> None:
    mu, logvar = torch.randn(3, 2), torch.randn(3, 2)
    std = logvar.mul(0.5).exp()
    mapping = {"embedding": mu, "log_covariance": logvar, "extra": "ignored"}
    assert as_posterior(mapping, fields=("embedding", "log_covariance")) == (mu, logvar)
    assert as_posterior(EncoderOutput(mu, logvar), fields=("loc", "log_var")) == (mu, logvar)
    got = as_posterior(AttributeOutput(mu, std), fields=("mean", "std"), scale="std")
    torch.testing.assert_close(got.logvar, logvar)
    # One field that holds a whole posterior, in any accepted form.
    assert as_posterior({"z": (mu, logvar)}, fields="z") == (mu, logvar)
    nested = as_posterior(EncoderOutput(Normal(mu, std), logvar), fields="loc")  # type: ignore[arg-type]
    torch.testing.assert_close(nested.logvar, logvar)


def test_a_missing_field_lists_the_fields_there_are() -> None:
    with pytest.raises(ValueError, match=r"encoder\(x\) \(dict\) has no field 'mu'; it has \['a'"):
        as_posterior({"a": torch.zeros(2, 2)}, "encoder(x)", fields=("mu", "a"))
    with pytest.raises(
        ValueError, match=r"\(EncoderOutput\) has no field 'mu'.*\['loc', 'log_var'\]"
    ):
        as_posterior(EncoderOutput(torch.zeros(2, 2), torch.zeros(2, 2)), fields=("mu", "loc"))
    with pytest.raises(ValueError, match=r"has no field 'z'; it has \['mean', 'std'\]"):
        as_posterior(AttributeOutput(torch.zeros(2, 2), torch.zeros(2, 2)), fields="z")


@pytest.mark.parametrize(
    ("output", "shown"),
    [
        (torch.zeros(4, 6), r"got Tensor of shape \(4, 6\) and dtype torch.float32; split"),
        (([1.0], "s"), r"got tuple of 2 \[list of 1 \[float\], str 's'\]$"),
        ((torch.zeros(4, 2),), r"got tuple of 1 \[Tensor of shape \(4, 2\)"),
        ((torch.zeros(4, 2), torch.zeros(4, 2), torch.zeros(4, 2)), r"got tuple of 3"),
        ((torch.zeros(4, 2), torch.zeros(4, 2, dtype=torch.long)), r"dtype torch.int64\]$"),
        (None, r"got NoneType$"),
    ],
)
def test_anything_else_is_refused_showing_what_was_received(output: object, shown: str) -> None:
    with pytest.raises(TypeError, match=r"encoder\(x\) must be a \(mu, logvar\) pair") as info:
        as_posterior(output, "encoder(x)")
    assert info.match(shown)


def test_a_dict_unpacked_into_its_keys_is_recognised() -> None:
    output = {"embedding": torch.zeros(4, 2), "log_covariance": torch.zeros(4, 2)}
    mu, logvar = output  # the silent mistake: two strings
    with pytest.raises(TypeError, match=r"got tuple of 2 \[str 'embedding', str 'log_cov.*keys"):
        as_posterior((mu, logvar), "encoder(x)")
    with pytest.raises(TypeError, match=r"fields \{embedding: Tensor of shape \(4, 2\).*") as info:
        as_posterior(output, "encoder(x)")
    assert info.match(r"fields=\('embedding', 'log_covariance'\)$")
    with pytest.raises(TypeError, match=r"got EncoderOutput with fields \{loc: .*log_var: "):
        as_posterior(EncoderOutput(torch.zeros(2, 2), torch.zeros(2, 2)))


def test_shapes_rank_and_arguments() -> None:
    with pytest.raises(ValueError, match=r"mu and logvar must have the same shape, got \(4, 2\)"):
        as_posterior((torch.zeros(4, 2), torch.zeros(4, 3)), "encoder(x)")
    with pytest.raises(ValueError, match=r"mu and std must have the same shape"):
        as_posterior((torch.zeros(4, 2), torch.ones(4, 3)), "encoder(x)", scale="std")
    with pytest.raises(ValueError, match=r"at least 2 dimensions \(B, D\), got shape \(4,\)"):
        as_posterior((torch.zeros(4), torch.zeros(4)), "encoder(x)")
    with pytest.raises(ValueError, match=r"must have 2 dimensions \(B, D\), got shape \(4, 2, 1\)"):
        as_posterior((torch.zeros(4, 2, 1), torch.zeros(4, 2, 1)), "encoder(x)", ndim=2)
    mu = torch.zeros(4, 2, 1)
    assert as_posterior((mu, mu), "encoder(x)")[0] is mu
    with pytest.raises(ValueError, match=r"scale must be one of \('logvar', 'std', 'var'\)"):
        as_posterior((mu, mu), scale="sigma")
    with pytest.raises(TypeError, match=r"fields must be a field name or a \(mean, logvar\) pair"):
        as_posterior({"a": mu}, fields=["a", "a"])  # type: ignore[arg-type]


def test_describe_nests() -> None:
    assert describe([torch.zeros(1), (2, None, "key")]) == (
        "list of 2 [Tensor of shape (1,) and dtype torch.float32, tuple of 3 [int, NoneType, "
        "str 'key']]"
    )


def test_a_loss_that_calls_the_encoder_itself_accepts_a_normal() -> None:
    # soft_intro_step reads every encoder call through as_posterior: a Normal encoder trains.
    class NormalEncoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = torch.nn.Linear(2, 4)

        def forward(self, x: torch.Tensor) -> Normal:
            mu, pre = self.net(x).chunk(2, dim=1)
            return Normal(mu, torch.nn.functional.softplus(pre) + 1e-3)

    torch.manual_seed(0)
    encoder, decoder = NormalEncoder(), torch.nn.Linear(2, 2)
    before = [p.detach().clone() for p in encoder.parameters()]
    out = cd.introspective.soft_intro_step(
        encoder,
        decoder,
        torch.randn(16, 2),
        torch.optim.Adam(encoder.parameters(), lr=1e-2),
        torch.optim.Adam(decoder.parameters(), lr=1e-2),
        cd.introspective.SoftIntroVAELoss(beta_rec=0.2, beta_kl=0.3, beta_neg=0.9),
    )
    assert out.encoder_loss.isfinite() and out.decoder_loss.isfinite()
    assert all(not torch.equal(b, p) for b, p in zip(before, encoder.parameters(), strict=True))

"""The typed tap description of a backbone: what it holds and what it refuses."""

from __future__ import annotations

import pytest

from contradistinct.backbones import DiscriminatorTaps, Taps


def test_fields_and_equality() -> None:
    taps = DiscriminatorTaps(("a", "b", "c"), contrast=("a", "c"), feature="b")
    assert (taps.names, taps.contrast, taps.feature) == (("a", "b", "c"), ("a", "c"), "b")
    assert taps == DiscriminatorTaps(("a", "b", "c"), ("a", "c"), "b")
    assert isinstance(taps, Taps)
    with pytest.raises(AttributeError):
        taps.feature = "a"  # type: ignore[misc]


def test_roles_must_name_listed_layers() -> None:
    with pytest.raises(ValueError, match=r"among names \('a', 'b'\), got \['x'\] outside"):
        DiscriminatorTaps(("a", "b"), contrast=("a", "x"), feature="b")
    with pytest.raises(ValueError, match=r"got \['y'\] outside"):
        DiscriminatorTaps(("a", "b"), contrast=("a",), feature="y")
    with pytest.raises(ValueError, match="contrast must list at least one layer"):
        DiscriminatorTaps(("a",), contrast=(), feature="a")
    with pytest.raises(ValueError, match="names must list at least one layer"):
        Taps(())


def test_names_are_tuples_of_strings() -> None:
    with pytest.raises(TypeError, match="names must be a tuple of layer names, got 'ab'"):
        Taps("ab")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"contrast must be a tuple of layer names, got \['a'\]"):
        DiscriminatorTaps(("a",), contrast=["a"], feature="a")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="feature must be a layer name, got 1"):
        DiscriminatorTaps(("a",), contrast=("a",), feature=1)  # type: ignore[arg-type]

"""ProgressiveSchedule: fade-in and stabilisation phases in images shown."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contradistinct.backbones import GrowthState, ProgressiveSchedule


def test_progan_defaults_by_hand():
    # 4x4 for 800k images, then 800k fade-in and 800k stabilisation per resolution.
    schedule = ProgressiveSchedule(128)
    assert (schedule.fade_images, schedule.stabilize_images) == (800_000, 800_000)
    assert schedule.resolutions == (4, 8, 16, 32, 64, 128)
    assert schedule(0) == GrowthState(4, 1.0)
    assert schedule(799_999) == GrowthState(4, 1.0)
    assert schedule(800_000) == GrowthState(8, 0.0)
    assert schedule(1_000_000) == GrowthState(8, 0.25)
    assert schedule(1_600_000) == GrowthState(8, 1.0)
    assert schedule(2_399_999) == GrowthState(8, 1.0)
    assert schedule(2_400_000) == GrowthState(16, 0.0)
    assert schedule(2_800_000) == GrowthState(16, 0.5)
    assert schedule.total_images == 800_000 + 5 * 1_600_000
    assert schedule(schedule.total_images) == GrowthState(128, 1.0)
    assert schedule(10**12) == GrowthState(128, 1.0)


def test_start_resolution_and_unequal_phases():
    schedule = ProgressiveSchedule(32, start_resolution=8, fade_images=10, stabilize_images=30)
    assert schedule(29) == GrowthState(8, 1.0)
    assert schedule(34) == GrowthState(16, 0.4)
    assert schedule(45) == GrowthState(16, 1.0)
    assert schedule(70) == GrowthState(32, 0.0)
    assert schedule(75) == GrowthState(32, 0.5)
    assert ProgressiveSchedule(8, start_resolution=8)(123) == GrowthState(8, 1.0)


@given(
    max_log=st.integers(3, 10),
    fade=st.integers(1, 1000),
    stabilize=st.integers(1, 1000),
    a=st.integers(0, 30_000),
    b=st.integers(0, 30_000),
)
def test_state_never_goes_backwards_and_alpha_is_a_weight(max_log, fade, stabilize, a, b):
    schedule = ProgressiveSchedule(2**max_log, fade_images=fade, stabilize_images=stabilize)
    early, late = schedule(min(a, b)), schedule(max(a, b))
    assert 0.0 <= early.alpha <= 1.0 and 0.0 <= late.alpha <= 1.0
    assert early.resolution <= late.resolution <= 2**max_log
    if early.resolution == late.resolution:
        assert early.alpha <= late.alpha
    # Each phase has the configured length: the resolution doubles exactly at fade-in starts.
    n = max(a, b)
    state = schedule(n)
    if state.resolution > 4 and state.alpha < 1.0:
        assert schedule(n - round(state.alpha * fade)).alpha == 0.0


def test_bad_arguments():
    with pytest.raises(ValueError, match="max_resolution must be a power of two from 4 to 1024"):
        ProgressiveSchedule(100)
    with pytest.raises(ValueError, match="max_resolution must be a power of two from 16 to 1024"):
        ProgressiveSchedule(8, start_resolution=16)
    with pytest.raises(ValueError, match="fade_images must be a positive int"):
        ProgressiveSchedule(8, fade_images=0)
    with pytest.raises(ValueError, match="images_seen must be non-negative, got -1"):
        ProgressiveSchedule(8)(-1)
    with pytest.raises(TypeError, match="images_seen must be an int"):
        ProgressiveSchedule(8)(1.5)  # type: ignore[arg-type]

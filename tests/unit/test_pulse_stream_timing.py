"""Capture times of blocks read from the sound server (agent/capture/audio/pulse_stream.py)."""

from __future__ import annotations

import numpy as np
import pytest

from agent.capture.audio.pulse_stream import RESYNC_S, block_start_time, downmix

RATE = 48_000
BLOCK = 960  # 20 ms


def test_the_first_block_is_placed_by_the_servers_latency() -> None:
    start, broke = block_start_time(10.0, 0.030, BLOCK, RATE, None)
    assert start == pytest.approx(10.0 - 0.030 - 0.020)
    assert not broke


def test_a_late_wake_up_does_not_move_a_block_off_the_sample_count() -> None:
    """Read 15 ms late with the same latency figure (jitter within the bound): the block
    still starts where the previous one ended, so no silence or overlap is made up."""
    start, broke = block_start_time(10.035, 0.030, BLOCK, RATE, expected=9.970)
    assert start == 9.970
    assert not broke


def test_samples_lost_in_an_overrun_are_a_break_and_the_server_clock_wins() -> None:
    expected = 9.970
    start, broke = block_start_time(10.5, 0.030, BLOCK, RATE, expected)
    assert start == pytest.approx(10.5 - 0.050)
    assert start - expected > RESYNC_S
    assert broke


def test_a_clock_running_behind_is_caught_up_too() -> None:
    start, broke = block_start_time(9.9, 0.030, BLOCK, RATE, expected=9.970)
    assert start == pytest.approx(9.850)
    assert broke


def test_downmix_averages_without_clipping_and_copies() -> None:
    loud = np.array([[32767, 32767], [-32768, -32768], [1000, -1000]], dtype=np.int16)
    np.testing.assert_array_equal(downmix(loud, 2), [32767, -32768, 0])
    mono = np.array([[5], [6]], dtype=np.int16)
    out = downmix(mono, 1)
    mono[0, 0] = 0
    np.testing.assert_array_equal(out, [5, 6])

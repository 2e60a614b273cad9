"""The WebRTC bench runs end to end (its figures are for reading, not asserting)."""

from __future__ import annotations

import numpy as np
from click.testing import CliRunner

from drone.video.bench import StampedTrack, read_stamp, run_webrtc_bench
from fieldkit.cli import main


def test_stamp_round_trip() -> None:
    track = StampedTrack(320, 180)
    for index in (0, 1, 977, 65535):
        assert read_stamp(track.picture(index)) == index
    assert read_stamp(np.full((180, 320, 3), 128, np.uint8)) is None


def test_bench_measures_every_frame_of_the_window() -> None:
    result = run_webrtc_bench(seconds=1.0, warmup_s=0.5, width=640, height=360)
    assert result.frames == 30
    assert result.p50_ms > 0
    assert result.floor_p50_ms > 0
    assert "ratio p95 WHIP / in-process" in result.table()


def test_bench_command_help() -> None:
    out = CliRunner().invoke(main, ["bench", "webrtc", "--help"])
    assert out.exit_code == 0
    assert "glass-to-glass" in out.output

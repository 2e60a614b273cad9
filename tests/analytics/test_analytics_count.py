"""`fieldkit camera count`: real Mall frames inside the benchmark's ROI, ShanghaiTech's
street scenes and dense crowds, a close-up the density map alone would over-count, and
bad input refused by file name (exit 1)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from fieldkit.analytics.benchcount import samples
from fieldkit.analytics.cli import camera as camera_cli
from fieldkit.analytics.count import StillCounter, read_image
from fieldkit.analytics.density import DensityCounter
from fieldkit.analytics.detector import Detector

ZIDANE = Path(str(importlib.util.find_spec("ultralytics").origin)).parent / "assets" / \
    "zidane.jpg"


def run(*args: str, node_dir: Path) -> tuple[int, str]:
    result = CliRunner().invoke(camera_cli, ["count", "--dir", str(node_dir), *args])
    return result.exit_code, result.output


@pytest.mark.slow
def test_mall_frames_counted_inside_the_roi_with_their_band(crowd: Path, tmp_path: Path
                                                            ) -> None:
    heads = json.loads((crowd / "mall" / "heads.json").read_text())
    roi = crowd / "mall" / "roi_mask.png"
    mask = cv2.imread(str(roi), cv2.IMREAD_GRAYSCALE) > 0
    names = ["seq_000500.jpg", "seq_000700.jpg"]
    code, out = run("--json", "--roi", str(roi),
                    *(str(crowd / "mall" / "frames" / n) for n in names), node_dir=tmp_path)
    assert code == 0, out
    rows = [json.loads(line) for line in out.splitlines()]
    assert [Path(r["image"]).name for r in rows] == names
    for name, row in zip(names, rows, strict=True):
        truth = sum(1 for x, y in heads[name] if mask[min(479, int(y)), min(639, int(x))])
        assert set(row) >= {"image", "count", "low", "high", "method", "ms"}
        assert row["method"] == "density"
        assert abs(row["count"] - truth) <= 7, (name, row, truth)
        assert row["low"] <= truth <= row["high"]


@pytest.mark.slow
@pytest.mark.parametrize(("crowd_set", "bound"), [("shanghaitech_b", 0.35),
                                                  ("shanghaitech_a", 0.2)])
def test_street_and_dense_crowds_counted_within_their_measured_error(
        crowd: Path, detector: Detector, density: DensityCounter, crowd_set: str,
        bound: float) -> None:
    """Three images of the tuning half (first, middle, last): the fused estimate's error
    stays within what `fieldkit bench count` measured there (B 17%, A 12% relative), and
    its band holds the truth in most of them (on B the map over-counts a sparse scene with
    large near people: one of the three is out by 80%)."""
    counter = StillCounter(detector, density)
    got = [(s.truth, counter.count(read_image(s.path), None, "auto").estimate)
           for s in samples(crowd, 3, (crowd_set,)) if s.split == "tune"]
    assert len(got) == 3
    assert all(e.method == "density" for _, e in got)  # crowds, not close-ups
    error = sum(abs(e.count - truth) for truth, e in got) / sum(t for t, _ in got)
    assert error <= bound, got
    assert sum(e.low <= truth <= e.high for truth, e in got) >= 2, got


@pytest.mark.slow
def test_a_close_up_is_counted_by_the_detector_not_the_map(tmp_path: Path) -> None:
    code, out = run("--json", str(ZIDANE), node_dir=tmp_path)
    assert code == 0, out
    row = json.loads(out)
    assert row["method"] == "detector"
    assert row["count"] <= 6
    code, out = run("--json", "--method", "density", str(ZIDANE), node_dir=tmp_path)
    assert json.loads(out)["count"] > 20


def test_bad_input_names_the_file(tmp_path: Path) -> None:
    text = tmp_path / "notes.jpg"
    text.write_text("not a picture")
    code, out = run(str(text), node_dir=tmp_path)
    assert code == 1
    assert f"{text}: not a readable image" in out
    mask = tmp_path / "mask.png"
    cv2.imwrite(str(mask), np.full((10, 10), 255, np.uint8))
    code, out = run("--roi", str(mask), str(ZIDANE), node_dir=tmp_path)
    assert code == 1
    assert "the mask is 10x10" in out
    assert "zidane.jpg is 1280x720" in out
    damaged = tmp_path / "weights.npz"
    damaged.write_bytes(b"PK\x03\x04 damaged")
    code, out = run("--weights", str(damaged), "--method", "density", str(ZIDANE),
                    node_dir=tmp_path)
    assert code == 1
    assert f"density model {damaged}" in out

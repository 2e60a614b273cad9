"""`fieldkit bench count`: counting accuracy and cost on real annotated crowds.

Sets (``../shared/data/crowd`` from the checkout, see its README): Mall frames inside the
benchmark's region of interest, ShanghaiTech B street scenes, ShanghaiTech A dense
crowds. Each set is split in two: the tuning half (Mall 1-400, the first half of each
ShanghaiTech set by name), on which the constants of :mod:`fieldkit.analytics.estimate`
were chosen, and the held-out half, never looked at while tuning. For the detector alone
(today's path), the density map alone and the fused estimate: MAE, relative error (MAE
over the mean true count) and ms per frame, per set and split and per density band
(true people per image); then ms per frame of the density map per backend, and of the
fused estimate on a 1280x720 frame whose zones cover half of it.
"""

from __future__ import annotations

import importlib.util
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

from fieldkit.analytics.count import StillCounter, read_image, read_mask
from fieldkit.analytics.density import DensityCounter
from fieldkit.analytics.detector import Detector
from fieldkit.analytics.estimate import detector_estimate
from fieldkit.errors import ConfigError

SETS = ("mall", "shanghaitech_b", "shanghaitech_a")
BANDS = ((0, 20), (20, 50), (50, 150), (150, 500), (500, 10**6))
METHODS = ("detector", "density", "fused")


def default_data_dir() -> Path:
    """``../shared/data/crowd`` beside the checkout holding this file."""
    return Path(__file__).resolve().parents[2].parent / "shared" / "data" / "crowd"


@dataclass(frozen=True, slots=True)
class Sample:
    set: str
    split: str
    """"tune" or "held-out"."""
    path: Path
    truth: int
    mask: np.ndarray | None = field(repr=False, compare=False)


def samples(data: Path, limit: int | None = None, sets: tuple[str, ...] = SETS
            ) -> Iterator[Sample]:
    """The images of each set with their true counts, ``limit`` per set and split (evenly
    spaced). ConfigError when ``data`` is not the crowd folder."""
    for name in sets:
        folder = data / name if name == "mall" else data / name / "train"
        try:
            heads: dict[str, list[list[float]]] = json.loads(
                (folder / "heads.json").read_text())
        except (OSError, ValueError) as exc:
            raise ConfigError(f"--data {data}: {name}/heads.json unreadable ({exc})") from None
        mask = read_mask(folder / "roi_mask.png") if name == "mall" else None
        images = folder / "frames" if name == "mall" else folder / "images"
        names = sorted(heads)
        half = len(names) // 2
        for split, part in (("tune", names[:half]), ("held-out", names[half:])):
            if limit is not None and limit < len(part):
                part = [part[int(i)] for i in np.linspace(0, len(part) - 1, limit)]
            for n in part:
                yield Sample(name, split, images / n, _truth(heads[n], mask), mask)


def _truth(points: list[list[float]], mask: np.ndarray | None) -> int:
    if mask is None:
        return len(points)
    h, w = mask.shape
    return sum(1 for x, y in points if mask[min(h - 1, int(y)), min(w - 1, int(x))])


@dataclass
class Row:
    """Errors and costs of one method over a group of images."""

    images: int = 0
    truth: float = 0.0
    abs_err: float = 0.0
    ms: float = 0.0

    def add(self, truth: int, estimate: float, ms: float) -> None:
        self.images += 1
        self.truth += truth
        self.abs_err += abs(estimate - truth)
        self.ms += ms

    def figures(self) -> dict[str, float]:
        n = max(1, self.images)
        mean = self.truth / n
        return {"images": self.images, "mean_truth": round(mean, 1),
                "mae": round(self.abs_err / n, 2),
                "rel_error": round(self.abs_err / n / mean, 3) if mean else 0.0,
                "ms_per_frame": round(self.ms / n)}


@dataclass
class CountBench:
    groups: dict[str, dict[str, dict[str, float]]]
    """"set split" or "band lo-hi (held-out)" -> method -> figures."""
    backends: dict[str, float | str]
    """Density backend -> ms per frame (or why it was not measured)."""
    frame_720p_ms: float
    """Fused estimate on 1280x720 with zones over half the frame."""

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    def table(self) -> str:
        head = f"{'group':32}{'images':>7}{'mean':>7}" + "".join(
            f"{m + ' MAE':>14}{'rel':>6}{'ms':>6}" for m in METHODS)
        lines = [head]
        for group, by_method in self.groups.items():
            first = next(iter(by_method.values()))
            line = f"{group:32}{first['images']:>7}{first['mean_truth']:>7.0f}"
            for m in METHODS:
                f = by_method[m]
                line += f"{f['mae']:>14.1f}{f['rel_error']:>6.0%}{f['ms_per_frame']:>6.0f}"
            lines.append(line)
        lines.append("")
        lines.append("density map, ms per frame by backend: " + ", ".join(
            f"{k} {v:.0f}" if isinstance(v, float) else f"{k} ({v})"
            for k, v in self.backends.items()))
        lines.append(f"fused, 1280x720 frame, zones over half of it: {self.frame_720p_ms:.0f} "
                     "ms per frame")
        return "\n".join(lines)


def run_count_bench(*, data: Path | None = None, limit: int | None = None,
                    threads: int = 2, cache_dir: Path | None = None,
                    progress: Callable[[str], None] | None = None) -> CountBench:
    say = progress or (lambda _msg: None)
    data = data or default_data_dir()
    if not data.is_dir():
        raise ConfigError(f"--data {data}: no such folder (the crowd data, see "
                          "../shared/data/README.md)")
    detector = Detector(threads=threads)
    density = DensityCounter(backend="openvino", threads=threads, cache_dir=cache_dir)
    counter = StillCounter(detector, density)
    rows: dict[str, dict[str, Row]] = {}
    for done, s in enumerate(samples(data, limit), 1):
        image = read_image(s.path)
        started = time.perf_counter()
        dets = counter.detections(image, s.mask)
        det_ms = (time.perf_counter() - started) * 1000
        started = time.perf_counter()
        dmap = counter.density_map(image, s.mask)
        map_ms = (time.perf_counter() - started) * 1000
        found = {"detector": (detector_estimate(dets).count, det_ms),
                 "density": (float(dmap.sum()), map_ms),
                 "fused": (counter.fused(image, s.mask, dets, dmap).count, det_ms + map_ms)}
        groups = [f"{s.set} {s.split}"]
        if s.split == "held-out":
            lo, hi = next(b for b in BANDS if b[0] <= s.truth < b[1])
            groups.append(f"band {lo}-{hi if hi < 10**6 else ''} people (held-out)")
        for g in groups:
            by_method = rows.setdefault(g, {m: Row() for m in METHODS})
            for m, (est, ms) in found.items():
                by_method[m].add(s.truth, est, ms)
        if done % 10 == 0:
            say(f"{done} images...")
    ordered = sorted(rows, key=lambda g: (g.startswith("band"), _band_key(g)))
    figures = {g: {m: r.figures() for m, r in rows[g].items()} for g in ordered}
    return CountBench(figures, _backends(data, threads, cache_dir, density, say),
                      _frame_720p(data, counter))


def _band_key(group: str) -> tuple[int, str]:
    if group.startswith("band"):
        return int(group.split()[1].split("-")[0]), group
    return SETS.index(group.split()[0]), group


def _backends(data: Path, threads: int, cache_dir: Path | None, openvino: DensityCounter,
              say: Callable[[str], None]) -> dict[str, float | str]:
    """Density map on two ShanghaiTech B frames (1024x768) per backend, after a warm-up."""
    frames = [read_image(s.path) for s in samples(data, 1, ("shanghaitech_b",))]
    out: dict[str, float | str] = {}
    say("density backends...")
    torch_counter = DensityCounter(openvino.weights, backend="torch", threads=threads)
    for name, counter in (("openvino", openvino), ("torch", torch_counter)):
        counter.density(frames[0])
        started = time.perf_counter()
        for f in frames:
            counter.density(f)
        out[name] = (time.perf_counter() - started) * 1000 / len(frames)
    if importlib.util.find_spec("onnxruntime") is None:
        out["onnxruntime"] = "not installed"
    return out


def _frame_720p(data: Path, counter: StillCounter) -> float:
    """A 1280x720 street frame with zones over its lower half, fused, after a warm-up."""
    sample = next(samples(data, 1, ("shanghaitech_b",)))
    frame = cv2.resize(read_image(sample.path), (1280, 720))
    mask = np.zeros(frame.shape[:2], bool)
    mask[360:, :] = True
    counter.count(frame, mask, "auto")
    return float(np.mean([counter.count(frame, mask, "auto").ms for _ in range(2)]))

"""The density map in the pipeline: a generated crowd of 1.5/m² that the detector
saturates on is counted by the fused estimate, with its band and method stored in
zone_metrics; without a map the detector stands alone."""

from __future__ import annotations

from conftest import camera_for, small_scene

from fieldkit.analytics.config import CamerasSection
from fieldkit.analytics.density import DensityCounter
from fieldkit.analytics.detector import Detector
from fieldkit.analytics.ingest import Frame
from fieldkit.analytics.pipeline import Analyser
from fieldkit.analytics.scene import CrowdScene, Sprite
from fieldkit.analytics.zones import ZoneMetrics, read_metrics, store_metrics
from fieldkit.log import IncidentLog


def _run(analyser: Analyser, scene: CrowdScene, frames: int,
         metrics: list[ZoneMetrics] | None = None) -> list[tuple[int, int, int]]:
    """(truth, fused count, detections in the zone's region) per frame, 2 frames/s; closed
    metrics windows go to ``metrics``."""
    out = []
    for i in range(frames):
        f = scene.next_frame()
        truth = sum(1 for p in f.people if p.countable and -3 <= p.x <= 3 and 4 <= p.y <= 9)
        result = analyser.process(Frame("cam1", i, i / 2, 1000 * i, f.image))
        out.append((truth, result.zones[0].count, len(result.detections)))
        if metrics is not None:
            metrics += result.metrics
    return out


def test_a_crowd_the_detector_misses_is_counted_by_the_map(
        detector: Detector, sprites: list[Sprite], density: DensityCounter,
        log: IncidentLog) -> None:
    scene_cfg = small_scene(1.5, seed=2)
    cameras = CamerasSection(density_every_s=1.0, window_s=1.0)
    analyser = Analyser(camera_for(scene_cfg), cameras, detector, density=density)
    metrics: list[ZoneMetrics] = []
    rows = _run(analyser, CrowdScene(scene_cfg, sprites), 4, metrics)
    for truth, count, found in rows:
        assert found < truth / 2  # the detector saturates
        assert abs(count - truth) <= 0.35 * truth, rows
    st = analyser.last_states[0]
    assert st.method == "density"
    assert st.density_low < st.density < st.density_high
    assert metrics  # a 1 s window closed
    with log.store.write() as conn:
        store_metrics(conn, metrics)
    stored = read_metrics(log.store.conn, "cam1")[-1]
    assert stored.method == "density"
    assert stored.density_low is not None
    assert stored.density_high is not None
    assert stored.density_low < stored.density < stored.density_high


def test_without_a_map_the_detector_stands_alone(detector: Detector,
                                                 sprites: list[Sprite]) -> None:
    scene_cfg = small_scene(0.3, seed=2)
    analyser = Analyser(camera_for(scene_cfg), CamerasSection(), detector)
    _run(analyser, CrowdScene(scene_cfg, sprites), 1)
    st = analyser.last_states[0]
    assert st.method == "detector"
    assert st.density_low <= st.density <= st.density_high

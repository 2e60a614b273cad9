"""The demo's camera: a synthetic ramp where pilgrims walk north, a group pushes south
against them, one person lies on the ground, and the zone holds more than its capacity.
Light enough for a 20 s headless demo on two cores (960x540, two analysed frames/s)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp

from fieldkit.analytics.config import (
    CamerasSection,
    RulesSection,
    SceneFlowSection,
    SceneSection,
    ZoneSection,
)

DEMO_CAMERA = "ramp-cam"
ZONE = [(-3.0, 4.0), (3.0, 4.0), (3.0, 9.0), (-3.0, 9.0)]


def demo_cameras() -> CamerasSection:
    from fieldkit.analytics.scene import synthetic_camera  # numpy/cv2 only when asked

    scene = SceneSection(
        width=960, height=540, fps=5, seed=11,
        flows=[SceneFlowSection(area=(-5, 2, 5, 12), density=0.15, speed_m_s=1.0),
               SceneFlowSection(area=(-2, 3, 2, 10), density=0.12, speed_m_s=1.1,
                                direction_deg=180)],
        # A person down must first be seen standing in two analysed frames (tracker.py):
        # here they stand whole in the picture (at 6.5 m their head left the frame, so
        # they never counted as standing), and fall at 11 s, well after the detector's
        # first, slow inferences (2-8 s of scene go by unanalysed on a loaded machine).
        fallen=[(1.5, 5.0, 11.0)])
    camera = synthetic_camera(DEMO_CAMERA, scene,
                              [ZoneSection(name="ramp", polygon=ZONE, capacity=4)],
                              analyse_fps=2.0)
    return CamerasSection(threads=1, window_s=5.0, cameras=[camera],
                          rules=RulesSection(dwell_s=2.0, clear_s=5.0, down_s=3.0))


def prepare_models(cameras: CamerasSection, base_dir: Path) -> None:
    """Export the camera's models and cut the scene's people into ``base_dir``'s model
    cache: what the node's first start does before its camera shows anything."""
    from fieldkit.analytics.pipeline import load_detector
    from fieldkit.analytics.scene import cut_out_people
    from fieldkit.analytics.zonecount import load_density

    detector = load_detector(cameras, base_dir)
    load_density(cameras, base_dir)
    cut_out_people(detector, base_dir / ".ultralytics" / "models")


async def camera_summary(http: aiohttp.ClientSession) -> str:
    """One line for the demo's summary: the incidents the synthetic camera raised."""
    async with http.get("/api/incidents") as response:
        incidents: list[dict[str, Any]] = await response.json()
    mine = [i for i in incidents
            if (i.get("location") or {}).get("camera") == DEMO_CAMERA]
    titles = ", ".join(sorted({i["title"] for i in mine})) or "none yet"
    snaps = sum(len(i["attachments"]) for i in mine)
    return (f"\n  camera     {len(mine)} incident(s) from the synthetic camera {DEMO_CAMERA} "
            f"({snaps} snapshot(s)): {titles}")

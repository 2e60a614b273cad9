"""The cameras part: video analytics, cameras to incidents (its entry point in the
``fieldkit.parts`` group). Always installed, for ``GET /api/cameras`` (mast cameras and
drone feeds); OpenCV and torch load only when cameras are configured."""

from __future__ import annotations

from fieldkit.analytics.config import CamerasSection
from fieldkit.parts import Command, Part

PART = Part(
    name="cameras", order=10, section=CamerasSection,
    install="fieldkit.analytics.service:install_cameras",
    background="fieldkit.analytics.service:cameras_job",
    commands=(
        Command("camera", "fieldkit.analytics.cli:camera",
                "Cameras: calibrate to the ground, list, snapshot with zones."),
        Command("analytics", "fieldkit.analytics.cli:bench_analytics",
                "Video analytics pipeline against model.predict on every frame.", bench=True),
        Command("count", "fieldkit.analytics.cli:bench_count",
                "Count accuracy and cost on real crowds: detector, map, fused.", bench=True),
    ),
)

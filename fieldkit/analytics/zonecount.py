"""Per camera: the density map on the zones' region every few seconds, fused with each
analysed frame's detections into one estimate per zone (:mod:`fieldkit.analytics.estimate`).

The map runs every ``cameras.density_every_s`` (density changes over seconds, not frames;
a run costs ~0.3-1 s on two cores), on the zones' part of the frame at native resolution
up to ``MAX_SIDE`` (mast cameras show people about as large as CSRNet's training crowds).
A zone's share of the map is summed inside its head polygon (where the heads of people
standing in it are). Between runs a zone keeps its last map reading for ``3 x`` the
period; older, the detector stands alone. The camera's map scale calibrates itself from
quiet moments (:class:`~fieldkit.analytics.estimate.ScaleCalibration`).
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

import cv2
import numpy as np

from fieldkit.analytics.config import CamerasSection
from fieldkit.analytics.count import on_boxes
from fieldkit.analytics.density import DensityCounter, default_weights_path
from fieldkit.analytics.detector import Detection
from fieldkit.analytics.estimate import ScaleCalibration, fuse
from fieldkit.analytics.zones import Zone, ZoneState
from fieldkit.errors import ConfigError

logger = logging.getLogger(__name__)

#: Longest side of the region given to the density map, pixels.
MAX_SIDE = 1024


def load_density(cameras: CamerasSection, base_dir: Path) -> DensityCounter | None:
    """The node's density counter (OpenVINO when installed, the IR cached under
    ``.ultralytics/models``), or None when off, not needed (no zones) or not installed
    (then the detector stands alone and says it is uncertain in a crowd)."""
    if cameras.density_every_s == 0 or not any(c.zones for c in cameras.cameras):
        return None
    weights = cameras.density_weights
    if weights is not None and not weights.is_absolute():
        weights = base_dir / weights
    if weights is None:
        try:
            weights = default_weights_path()
        except ConfigError as exc:
            logger.warning("%s: zones are counted by the detector alone", exc)
            return None
    openvino = importlib.util.find_spec("openvino") is not None
    return DensityCounter(weights, backend="openvino" if openvino else "torch",
                          cache_dir=base_dir / ".ultralytics" / "models",
                          threads=cameras.threads)


class ZoneCounter:
    """Fuses the density map into one camera's zone states.

    :param zones: the camera's zones.
    :param density: the node's density counter (None: detector alone).
    :param every_s: seconds between map runs (0: never).
    """

    def __init__(self, camera: str, zones: list[Zone], density: DensityCounter | None,
                 every_s: float) -> None:
        self.camera = camera
        self.zones = zones
        self.density = density if every_s > 0 else None
        self.every_s = every_s
        self.scale = ScaleCalibration()
        self._mapped: dict[str, float] = {}
        """Zone -> people on the map (unscaled) at the last run."""
        self._map: tuple[np.ndarray, tuple[int, int, int, int]] | None = None
        """The last map (at the region's size) and the region."""
        self._mapped_t: float | None = None
        self._frame_height = 0.0
        self._masks: dict[tuple[int, int, int, int], dict[str, np.ndarray]] = {}

    def due(self, t: float) -> bool:
        return self.density is not None and (
            self._mapped_t is None or t - self._mapped_t >= self.every_s)

    def run_map(self, image: np.ndarray, roi: tuple[int, int, int, int] | None,
                detections: list[Detection], t: float) -> None:
        """Density map of the zones' region; learn the scale when the scene is quiet."""
        assert self.density is not None
        h, w = image.shape[:2]
        box = roi or (0, 0, w, h)
        x1, y1, x2, y2 = box
        scale = min(1.0, MAX_SIDE / max(x2 - x1, y2 - y1))
        try:
            dmap = self.density.density(image[y1:y2, x1:x2], scale)
        except Exception:
            logger.exception("camera %s: density map failed", self.camera)
            return
        masks = self._zone_masks(box)
        self._mapped = {name: float(dmap[m].sum()) for name, m in masks.items()}
        self._map = (dmap, box)
        self._mapped_t, self._frame_height = t, float(h)
        in_box = [d for d in detections if x1 <= d.foot[0] < x2 and y1 <= d.foot[1] < y2]
        self.scale.observe(in_box, float(dmap.sum()))

    def _zone_masks(self, box: tuple[int, int, int, int]) -> dict[str, np.ndarray]:
        masks = self._masks.get(box)
        if masks is None:
            x1, y1, x2, y2 = box
            masks = {}
            for zone in self.zones:
                m = np.zeros((y2 - y1, x2 - x1), np.uint8)
                pts = np.round(zone.head_polygon - [x1, y1]).astype(np.int32)
                cv2.fillPoly(m, [pts.reshape(-1, 1, 2)], 1)
                masks[zone.name] = m.astype(bool)
            self._masks = {box: masks}
        return masks

    def _on_boxes(self, zone: Zone, detections: list[Detection], mapped: float) -> float:
        """Share of the zone's map mass on its detected boxes."""
        if self._map is None or mapped <= 0 or not detections:
            return 0.0
        dmap, box = self._map
        inside = np.where(self._zone_masks(box)[zone.name], dmap, 0.0)
        return on_boxes(inside, detections, (box[0], box[1])) / mapped

    def refine(self, states: list[ZoneState], detections: list[Detection],
               ground: np.ndarray | None, t: float) -> list[ZoneState]:
        """The zone states with the fused count, band and method."""
        fresh = self._mapped_t is not None and t - self._mapped_t <= 3 * self.every_s
        out = []
        for zone, st in zip(self.zones, states, strict=True):
            mapped = self._mapped.get(zone.name) if fresh else None
            if mapped is None:
                out.append(st)
                continue
            mine = [d for d, g in zip(detections, ground if ground is not None else [],
                                      strict=False)
                    if not np.isnan(g).any() and zone.contains(*g)]
            # A close-up is judged against the whole picture: a zone is a small part of it.
            est = fuse(mine, mapped * self.scale.scale, self._frame_height,
                       self._on_boxes(zone, mine, mapped))
            out.append(st.with_estimate(est, zone.area_m2))
        return out

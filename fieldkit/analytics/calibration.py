"""Camera calibration: the homography from a camera's image to the ground.

Surveyed landmarks (>= 4, no three in a line) give the plane-to-plane mapping. Ground
points are metres on a local plane, or WGS84 [lat, lon], which are turned into metres
east/north of their centroid (equirectangular: exact to centimetres over a few hundred
metres). A calibration is refused, with the reason, when its points are collinear or
clustered, when the fit disagrees with a landmark by more than ``max_error_m``, or when
a landmark would lie beyond the horizon.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import cv2
import numpy as np
from pydantic import ValidationError

from fieldkit.analytics.config import CalibrationSection
from fieldkit.errors import ConfigError
from fieldkit.strict import describe

_EARTH_M_PER_DEG = 111_320.0


class CalibrationError(ConfigError):
    """A calibration cannot be used; the message says why."""


class Calibration:
    """Maps pixels of one camera's frame to ground metres and back.

    :param section: the points (and units) from the camera's config.
    :param camera: names the camera in error messages.
    """

    def __init__(self, section: CalibrationSection, camera: str = "camera") -> None:
        where = f"cameras -> {camera} -> calibration"
        self.units = section.units
        image = np.asarray(section.image, np.float64)
        ground = np.asarray(section.ground, np.float64)
        self.origin: tuple[float, float] | None = None
        """Where local (0, 0) is on Earth: [lat, lon] (None: not geo-anchored)."""
        self.bearing_deg = 0.0
        """Compass bearing of local +y."""
        if section.origin is not None:
            self.origin, self.bearing_deg = section.origin, section.bearing_deg
        self._ground_centre = np.asarray(section.ground, np.float64).mean(axis=0)
        if section.units == "latlon":
            for lat, lon in ground:
                if not (-90 <= lat <= 90 and -180 <= lon <= 180):
                    raise CalibrationError(f"{where}: ground point {[lat, lon]} is not a "
                                           "[lat, lon] in degrees")
            self.origin = (float(ground[:, 0].mean()), float(ground[:, 1].mean()))
            ground = self._to_local(ground)
            self._ground_centre = ground.mean(axis=0)
        _check_spread(image, "image", where, min_extent=20.0)
        _check_spread(ground, "ground", where, min_extent=0.5)
        h, _ = cv2.findHomography(image, ground, 0)
        if h is None or not np.all(np.isfinite(h)) \
                or abs(np.linalg.det(np.asarray(h, np.float64))) < 1e-12:
            raise CalibrationError(f"{where}: the points do not define a ground plane "
                                   "(degenerate homography)")
        w = (np.column_stack([image, np.ones(len(image))]) @ h.T)[:, 2]
        if not (np.all(w > 0) or np.all(w < 0)):
            raise CalibrationError(f"{where}: the points put part of the image beyond the "
                                   "horizon; check that each image point matches its ground "
                                   "point")
        self.image_to_ground_h: np.ndarray = h / h[2, 2]
        self.ground_to_image_h: np.ndarray = np.linalg.inv(self.image_to_ground_h)
        errors = np.linalg.norm(self.image_to_ground(image) - ground, axis=1)
        worst = int(np.argmax(errors))
        self.error_m = float(errors[worst])
        if self.error_m > section.max_error_m:
            raise CalibrationError(
                f"{where}: point {worst + 1} (image {list(section.image[worst])}) is "
                f"{self.error_m:.2f} m from where the other points put it (limit "
                f"{section.max_error_m} m); re-measure it or drop it")
        self._horizon_sign = 1.0 if w[0] > 0 else -1.0

    def _to_local(self, latlon: np.ndarray) -> np.ndarray:
        assert self.origin is not None
        lat0, lon0 = self.origin
        east = (latlon[:, 1] - lon0) * _EARTH_M_PER_DEG * math.cos(math.radians(lat0))
        north = (latlon[:, 0] - lat0) * _EARTH_M_PER_DEG
        return np.column_stack([east, north])

    def to_latlon(self, ground: np.ndarray) -> np.ndarray | None:
        """Local metres to [lat, lon] (None when not geo-anchored)."""
        if self.origin is None:
            return None
        lat0, lon0 = self.origin
        b = math.radians(self.bearing_deg)  # +y points at bearing b, +x 90 degrees right
        east = ground[:, 0] * math.cos(b) + ground[:, 1] * math.sin(b)
        north = -ground[:, 0] * math.sin(b) + ground[:, 1] * math.cos(b)
        lat = lat0 + north / _EARTH_M_PER_DEG
        lon = lon0 + east / (_EARTH_M_PER_DEG * math.cos(math.radians(lat0)))
        return np.column_stack([lat, lon])

    def centre_latlon(self, ground: np.ndarray | None = None) -> tuple[float, float] | None:
        """[lat, lon] of the centre of ``ground`` points (local metres; default: the
        landmarks), None when not geo-anchored."""
        centre = self._ground_centre if ground is None else ground.reshape(-1, 2).mean(axis=0)
        out = self.to_latlon(np.asarray(centre, np.float64).reshape(1, 2))
        return None if out is None else (float(out[0, 0]), float(out[0, 1]))

    def ground_polygon(self, polygon: Sequence[tuple[float, float]]) -> np.ndarray:
        """A zone polygon from config units to local metres."""
        pts = np.asarray(polygon, np.float64)
        return self._to_local(pts) if self.units == "latlon" else pts

    def image_to_ground(self, points: np.ndarray) -> np.ndarray:
        """Pixels (N, 2) to ground metres (N, 2); NaN for points above the horizon."""
        pts = np.asarray(points, np.float64).reshape(-1, 2)
        hom = np.column_stack([pts, np.ones(len(pts))]) @ self.image_to_ground_h.T
        with np.errstate(divide="ignore", invalid="ignore"):
            out = hom[:, :2] / hom[:, 2:3]
        out[hom[:, 2] * getattr(self, "_horizon_sign", 1.0) <= 0] = np.nan
        return out

    def ground_to_image(self, points: np.ndarray) -> np.ndarray:
        """Ground metres (N, 2) to pixels (N, 2)."""
        pts = np.asarray(points, np.float64).reshape(-1, 2)
        hom = np.column_stack([pts, np.ones(len(pts))]) @ self.ground_to_image_h.T
        with np.errstate(divide="ignore", invalid="ignore"):
            return hom[:, :2] / hom[:, 2:3]


def _check_spread(points: np.ndarray, name: str, where: str, min_extent: float) -> None:
    """Refuse repeated, clustered or collinear points (the fit would be meaningless)."""
    for (i, a), (j, b) in itertools.combinations(enumerate(points), 2):
        if np.linalg.norm(a - b) < 1e-6:
            raise CalibrationError(f"{where}: {name} points {i + 1} and {j + 1} are the same")
    centred = points - points.mean(axis=0)
    sv = np.linalg.svd(centred, compute_uv=False)
    if sv[0] < min_extent:
        raise CalibrationError(f"{where}: the {name} points are too close together; spread "
                               "them over the area the camera watches")
    if sv[1] / sv[0] < 0.05:
        raise CalibrationError(f"{where}: the {name} points lie on one line; a ground plane "
                               "needs points spread in two directions")
    # Among four points, three in a line leave the homography undetermined.
    if len(points) == 4:
        scale = sv[0] ** 2
        for tri in itertools.combinations(range(4), 3):
            a, b, c = points[list(tri)]
            area = abs((b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])) / 2
            if area < 1e-3 * scale:
                raise CalibrationError(
                    f"{where}: {name} points {', '.join(str(k + 1) for k in tri)} lie on one "
                    "line; with four points no three may be collinear")


def calibration_from_points(image: Sequence[tuple[float, float]],
                            ground: Sequence[tuple[float, float]], *, units: str = "metres",
                            max_error_m: float = 0.5, camera: str = "camera",
                            origin: tuple[float, float] | None = None,
                            bearing_deg: float = 0.0) -> Calibration:
    """Validate points (as ``fieldkit camera calibrate`` takes them) into a calibration."""
    try:
        section = CalibrationSection.model_validate({
            "image": list(image), "ground": list(ground), "units": units,
            "max_error_m": max_error_m, "origin": origin, "bearing_deg": bearing_deg})
    except ValidationError as exc:
        problem = describe(exc, echo=False).removeprefix("cameras -> calibration: ")
        raise CalibrationError(f"cameras -> {camera} -> calibration: {problem}") from exc
    return Calibration(section, camera)


def polygon_area(polygon: np.ndarray) -> float:
    """Shoelace area, m²."""
    x, y = polygon[:, 0], polygon[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2)

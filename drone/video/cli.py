"""`fieldkit drone publish`: a thin skin over :func:`drone.video.publish.publish`."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from fieldkit.errors import FieldkitError


@click.command("publish")
@click.argument("source")
@click.option("--to", "url", required=True,
              help="The node's WHIP endpoint, e.g. http://10.0.0.2:8470/whip.")
@click.option("--token", envvar="FIELDKIT_WHIP_TOKEN",
              help="This pilot's or drone's bearer token (env FIELDKIT_WHIP_TOKEN).")
@click.option("--token-file", type=click.Path(dir_okay=False, path_type=Path),
              help="File holding the token (instead of --token).")
@click.option("--codec", type=click.Choice(["vp8", "h264"]), default="vp8", show_default=True,
              help="Video codec offered first.")
@click.option("--duration", type=click.FloatRange(min=0.1),
              help="Seconds to publish (default: until Ctrl-C).")
@click.option("--ice-address", "ice", multiple=True,
              help="Offer only this host address as ICE candidate (repeatable; default: "
              "every address but loopback; 127.0.0.1 for a node on this machine).")
def publish(source: str, url: str, token: str | None, token_file: Path | None, codec: str,
            duration: float | None, ice: tuple[str, ...]) -> None:
    """Publish SOURCE (a video file, rtsp://, udp://, /dev/videoN or testsrc) to a node by
    WHIP; reconnects after a link loss. The token is never printed."""
    if (token is None) == (token_file is None):
        raise click.UsageError("give --token (or FIELDKIT_WHIP_TOKEN) or --token-file")
    if token_file is not None:
        try:
            token = token_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise click.ClickException(f"cannot read {token_file}: {exc.strerror}") from exc
    assert token is not None
    from drone.video.ice import ice_addresses
    from drone.video.publish import publish as run

    click.echo(f"publishing {source} to {url} ({codec}); Ctrl-C to stop")
    try:
        with ice_addresses(list(ice) or None):
            publisher = asyncio.run(run(source, url, token, codec=f"video/{codec.upper()}",
                                        duration=duration, on_event=click.echo))
    except FieldkitError as exc:
        raise click.ClickException(str(exc)) from exc
    if publisher.refused:
        raise click.ClickException(publisher.last_error)
    click.echo(f"stopped: {publisher.connections} connection(s)"
               + (f", last error: {publisher.last_error}" if publisher.last_error else ""))

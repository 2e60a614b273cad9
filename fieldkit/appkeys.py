"""Typed keys of the node's aiohttp application state, shared by the API and the parts
that plug into it (cameras, drones, hardware, sync). Kept apart so those parts can import
them without importing the API module."""

from __future__ import annotations

from aiohttp import web

from fieldkit.config import Config
from fieldkit.feed import EventFeed
from fieldkit.worker import LogWorker

CONFIG = web.AppKey("config", Config)
WORKER = web.AppKey("worker", LogWorker)
FEED = web.AppKey("feed", EventFeed)
STARTED = web.AppKey("started", float)

"""The base of every API response model, and the one way a handler answers with one."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field


class View(BaseModel):
    """A JSON body the node sends. Unknown fields are ignored when read, so an older
    console reads a newer node's answers (and a newer one reads an older node's: new
    fields have defaults)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class ErrorView(View):
    """Every 4xx/5xx answer of the API."""

    error: str = Field(description="What went wrong, in a sentence naming the field or value")


def respond(view: BaseModel, status: int = 200, **dump: Any) -> web.Response:
    """``view`` as a JSON response (field aliases on the wire; ``dump`` goes to
    ``model_dump``, e.g. ``exclude_unset``)."""
    return web.json_response(view.model_dump(mode="json", by_alias=True, **dump),
                             status=status)

"""The one strict model base, and the one way to say what pydantic refused.

Config sections, hardware profiles, emergency calls, API bodies and event payloads all
build on :class:`Strict` and report refusals through :func:`describe`, so a typo reads
the same everywhere: ``api.hots: unknown key``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_core import ErrorDetails

#: A value under a key containing one of these is never repeated in a message.
_SECRET_WORDS = ("key", "token", "secret", "password")


class Strict(BaseModel):
    """A frozen model that refuses unknown keys: a typo is an error, not a silently
    ignored setting."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def describe(exc: ValidationError, *, echo: bool = True) -> str:
    """Every problem in ``exc`` as ``key: what is wrong``, joined by ``; ``.

    The key is the dotted path (``drones.links.0.port``). A validator's own message that
    already names its key ("sync -> peers: ...") is kept as it is. ``echo`` quotes the
    value given (files the operator wrote); without it values are never repeated
    (callers' numbers, request bodies), nor ever under a secret-looking key.
    """
    return "; ".join(_problem(error, echo) for error in exc.errors())


def _problem(error: ErrorDetails, echo: bool) -> str:
    loc = [str(part) for part in error["loc"]]
    key = ".".join(loc)
    if error["type"] == "missing":
        what = "missing, a value is required"
    elif error["type"] == "extra_forbidden":
        what = "unknown key"
    else:
        msg = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "value_error" and (not loc or msg.startswith(loc[0])):
            return msg
        secret = any(word in part for part in loc for word in _SECRET_WORDS)
        what = f"{error['input']!r} is invalid: {msg}" if echo and not secret else msg
    return f"{key}: {what}" if key else what

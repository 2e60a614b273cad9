"""What every config section shares: the strict base model and the node-name type.

Every part's section (``drone/config.py``, ``sync/config.py``, ...) builds on
:class:`Section`, so a typo in any key is an error, never a silently ignored setting.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated

from pydantic import Field

from fieldkit.strict import Strict


class Section(Strict):
    """One section of ``fieldkit.toml``; the first line of its docstring documents it."""


NodeName = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$",
        description="1-32 letters, digits, '-' or '_', starting with a letter or digit",
    ),
]


def is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False

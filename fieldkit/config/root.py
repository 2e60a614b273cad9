"""The whole configuration of one node: the core sections, and one section per installed
part, assembled from the parts' declarations (:mod:`fieldkit.parts`)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, Field, create_model, model_validator

from fieldkit.config.api import ApiSection
from fieldkit.config.base import Section
from fieldkit.config.logging import LoggingSection
from fieldkit.config.node import NodeSection
from fieldkit.config.store import StoreSection
from fieldkit.config.trust import TrustSection
from fieldkit.parts import installed_parts

S = TypeVar("S", bound=BaseModel)


class Config(Section):
    """The whole configuration of one node. Each installed part adds its own section
    (``[drones]``, ``[sync]``, ...); read one with :meth:`section`."""

    node: NodeSection
    api: ApiSection = Field(default_factory=ApiSection, title="API",
                            description=ApiSection.__doc__)
    trust: TrustSection = Field(default_factory=TrustSection, title="Trust",
                                description=TrustSection.__doc__)
    store: StoreSection = Field(default_factory=StoreSection, title="Store",
                                description=StoreSection.__doc__)
    logging: LoggingSection = Field(default_factory=LoggingSection, title="Logging",
                                    description=LoggingSection.__doc__)
    base_dir: Path = Field(
        Path("."),
        exclude=True,
        title="Node directory",
        description="Directory the config was read from; relative paths resolve against it",
    )

    @model_validator(mode="after")
    def _own_key_not_in_trust(self) -> Config:
        if self.node.name in self.trust.nodes:
            raise ValueError(
                f"trust.nodes: lists this node's own name {self.node.name!r}; "
                "a node always trusts its own key, remove the entry"
            )
        return self

    def path(self, relative: Path) -> Path:
        """Resolve a path from the config against the node directory."""
        return relative if relative.is_absolute() else self.base_dir / relative

    def section(self, kind: type[S]) -> S:
        """This config's section of type ``kind``, e.g. ``config.section(SyncSection)``."""
        for name, field in type(self).model_fields.items():
            if field.annotation is kind:
                value = getattr(self, name)
                assert isinstance(value, kind)
                return value
        raise LookupError(f"no {kind.__name__} in this config: is its part installed?")


@functools.cache
def config_model() -> type[Config]:
    """:class:`Config` with a field for the section of every installed part."""
    fields: dict[str, Any] = {
        part.name: (part.section, Field(default_factory=part.section, title=part.name,
                                        description=part.section.__doc__))
        for part in installed_parts() if part.section is not None
    }
    model: type[Config] = create_model("Config", __base__=Config, __module__=__name__,
                                       **fields)
    return model

"""The sync part: sessions with other trucks and HQ, bundle files, discovery (its entry
point in the ``fieldkit.parts`` group). Always enabled: peers sync with this node even
when it starts no session itself (``sync.enabled = false``)."""

from __future__ import annotations

from fieldkit.parts import Command, Part
from sync.config import SyncSection

PART = Part(
    name="sync", order=50, section=SyncSection, install="sync.http:install_sync",
    background="sync.http:sessions_job", trust="sync.roster:trust_from_config",
    commands=(
        Command("sync", "sync.cli:sync_group",
                "Sync with other trucks and HQ: sessions, bundle files, status, fleet roster."),
        Command("recover", "sync.cli:recover_command",
                "Rebuild a damaged database from HQ, trucks, bundles and what it still "
                "holds."),
        Command("sync", "sync.cli:bench_sync",
                "Sync sessions over loopback against a plain copy of the events.", bench=True),
    ),
)

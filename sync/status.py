"""`fieldkit sync status`: per peer, last contact, events pending each way, and lag.

- *out*: events held here, in the peer's scope, beyond the peer's vector at last contact;
- *in*: events the peer held at last contact that this node still lacks;
- *lag*: age of the oldest event held here that the peer lacks (0 when none).
"""

from __future__ import annotations

from typing import Any

from fieldkit.config import Config
from fieldkit.log import IncidentLog
from sync.config import SyncSection
from sync.peerstate import age_s, oldest_pending_ms, peer_records
from sync.protocol import pending
from sync.roster import Trust
from sync.scope import offer_filter


def peer_status(config: Config, log: IncidentLog, trust: Trust) -> list[dict[str, Any]]:
    records = peer_records(log)
    urls = config.section(SyncSection).peer_urls(config.node.name)
    mine = log.version_vector()
    rows = []
    for name in sorted(set(records) | set(urls)):
        record = records.get(name)
        theirs = record.vector if record else {}
        allowed = offer_filter(trust, name)
        out = pending(mine, theirs, allowed)
        oldest = oldest_pending_ms(log, theirs, [o for o in mine if allowed(o)]) if out else None
        rows.append({
            "peer": name,
            "url": urls.get(name) or (record.url if record else None),
            "trust": trust.status(name),
            "last_contact_s_ago": age_s(record.last_contact if record else None),
            "pending_out": out if record else None,
            "pending_in": pending(theirs, mine, lambda o: True) if record else None,
            "lag_s": (age_s(oldest) or 0.0) if record else None,
            "failures": record.failures if record else 0,
            "last_error": record.last_error if record else None,
        })
    return rows


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.1f}{unit}"
    return f"{value}{unit}"


def status_table(config: Config, rows: list[dict[str, Any]], roster_version: int) -> str:
    head = (f"{config.node.name} ({config.node.role}), roster v{roster_version}, "
            f"{len(rows)} peer(s)")
    lines = [head, f"{'peer':<10} {'trust':<8} {'last contact':>12} {'out':>6} {'in':>6} "
                   f"{'lag':>8}  url / last error"]
    for r in rows:
        tail = r["url"] or ""
        if r["last_error"]:
            tail += f"  ({r['failures']} failed: {r['last_error'][:100]})"
        lines.append(f"{r['peer']:<10} {r['trust']:<8} "
                     f"{_fmt(r['last_contact_s_ago'], ' s ago'):>12} "
                     f"{_fmt(r['pending_out']):>6} {_fmt(r['pending_in']):>6} "
                     f"{_fmt(r['lag_s'], ' s'):>8}  {tail}")
    return "\n".join(lines)

"""Sync between nodes: identity and trust, the replication protocol, HTTP and bundle
transports, discovery. Depends on the incident log's public API only.

Empty until the sync issue lands; the package exists so the layout of DESIGN.md holds.
"""

__all__: list[str] = []

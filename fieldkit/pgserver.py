"""A throwaway PostgreSQL server from the system's binaries, for the tests and
``fieldkit bench hq``: initdb into a temporary folder, serve on a unix socket there
(no TCP port), stop and delete on exit.

PostgreSQL refuses to run as root, so under root the server runs as the ``postgres``
user (created by Debian's package) through ``runuser``, and its folder is handed to it.
"""

from __future__ import annotations

import glob
import logging
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

import psycopg

from fieldkit.errors import StoreError

logger = logging.getLogger(__name__)

#: The database role the server is initialised with (trust auth on its private socket).
ROLE = "fieldkit"
RUN_AS = "postgres"


def find_bindir() -> Path | None:
    """The folder of initdb/pg_ctl: on PATH, else Debian's newest /usr/lib/postgresql/N."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                      key=lambda p: int(Path(p).parent.parent.name))
    return Path(versions[-1]).parent if versions else None


class TempPostgres:
    """Start with ``with TempPostgres() as pg:``; :meth:`create_database` gives URLs.

    :param fsync: off only where durability is not what is measured (never in the tests
        that kill the server).
    """

    def __init__(self, fsync: bool = True) -> None:
        bindir = find_bindir()
        if bindir is None:
            raise StoreError("PostgreSQL is not installed (Debian: apt-get install postgresql)")
        self.bindir = bindir
        self.fsync = fsync
        self.root = Path(tempfile.mkdtemp(prefix="fieldkit-pg-"))
        self.data = self.root / "data"
        self.socket_dir = self.root
        self._as: list[str] = []
        if os.geteuid() == 0:
            user = pwd.getpwnam(RUN_AS)
            os.chown(self.root, user.pw_uid, user.pw_gid)
            self._as = ["runuser", "-u", RUN_AS, "--"]
        self._count = 0

    def _run(self, *args: str) -> None:
        # Our own fixed command lines (PostgreSQL's binaries), never user input.
        result = subprocess.run(  # noqa: S603
            [*self._as, *args], capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise StoreError(f"{Path(args[0]).name} failed: {result.stderr.strip()[-500:]}")

    def __enter__(self) -> TempPostgres:
        self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-U", ROLE,
                  "--auth=trust", "-E", "UTF8", "--locale=C")
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            self.stop(mode="immediate")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def start(self) -> None:
        options = (f"-k {self.socket_dir} -c listen_addresses='' -c max_connections=200"
                   f" -c fsync={'on' if self.fsync else 'off'}")
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-w", "-l",
                  str(self.root / "server.log"), "-o", options, "start")

    def stop(self, mode: str = "fast") -> None:
        """Stop the server; ``immediate`` is a crash (recovery replays the WAL on start)."""
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-w", "-m", mode, "stop")

    @property
    def pid(self) -> int:
        """The running server's postmaster (its backends are its children)."""
        return int((self.data / "postmaster.pid").read_text().split("\n", 1)[0])

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{ROLE}@/{database}?host={self.socket_dir}"

    def create_database(self, prefix: str = "fieldkit") -> str:
        """A new empty database; returns its URL."""
        self._count += 1
        name = f"{prefix}_{self._count}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

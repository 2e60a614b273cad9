"""A Mosquitto broker of our own on loopback, for tests, the demo and the benchmark.

In the field the broker is the city's (or the system's: ``hardware/``); this starts
Debian's ``mosquitto`` with a config file written into a directory of ours, anonymous or
with a password file and TLS, on a free port of 127.0.0.1.
"""

from __future__ import annotations

import getpass
import logging
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from fieldkit.errors import IngestError

logger = logging.getLogger(__name__)

MOSQUITTO = "/usr/sbin/mosquitto"
USERS_TOOL = "/usr/bin/mosquitto_passwd"


@dataclass(frozen=True, slots=True)
class BrokerTls:
    """PEM files of the broker's certificate, its key and the CA that signed it."""

    ca_file: Path
    cert_file: Path
    key_file: Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Mosquitto:
    """``start()`` writes the config into ``directory`` and runs the broker; ``stop()``.

    :param users: username -> password; None: anonymous access.
    :param port: 0 picks a free one (kept across restarts).
    """

    def __init__(self, directory: Path, users: dict[str, str] | None = None,
                 tls: BrokerTls | None = None, port: int = 0) -> None:
        self.directory = directory
        self.users = users
        self.tls = tls
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def _write_config(self) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        lines = [f"listener {self.port} 127.0.0.1", "persistence true",
                 f"persistence_location {self.directory}/", "log_dest stderr",
                 "max_queued_messages 1000000", "max_inflight_messages 0",
                 # Run as whoever started it: started as root, mosquitto would switch to
                 # its own user, who cannot read our directory.
                 f"user {getpass.getuser()}"]
        if self.users is None:
            lines.append("allow_anonymous true")
        else:
            passwd = self.directory / "passwd"
            passwd.write_text("")
            passwd.chmod(0o600)
            for user, password in self.users.items():
                subprocess.run(  # noqa: S603 (Debian's tool, our own arguments)
                    [USERS_TOOL, "-b", str(passwd), user, password],
                    check=True, capture_output=True)
            lines += ["allow_anonymous false", f"password_file {passwd}"]
        if self.tls is not None:
            lines += [f"cafile {self.tls.ca_file}", f"certfile {self.tls.cert_file}",
                      f"keyfile {self.tls.key_file}"]
        conf = self.directory / "mosquitto.conf"
        conf.write_text("\n".join(lines) + "\n")
        return conf

    def start(self, timeout_s: float = 10.0) -> None:
        if not Path(MOSQUITTO).exists():
            raise IngestError(f"{MOSQUITTO} is missing: install Debian's mosquitto "
                              "(make system-deps)")
        conf = self._write_config()
        log = (self.directory / "mosquitto.log").open("ab")
        self.process = subprocess.Popen(  # noqa: S603 (Debian's broker, our own config)
            [MOSQUITTO, "-c", str(conf)], stdout=log, stderr=log)
        log.close()
        deadline = time.monotonic() + timeout_s
        while True:
            if self.process.poll() is not None:
                raise IngestError(f"mosquitto exited with {self.process.returncode}; see "
                                  f"{self.directory / 'mosquitto.log'}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise IngestError(f"mosquitto did not listen on port {self.port} within "
                                      f"{timeout_s:.0f} s") from None
                time.sleep(0.05)  # poll the port until the broker listens
        logger.info("mosquitto listening on 127.0.0.1:%d", self.port)

    def stop(self) -> None:
        """Stop the broker (SIGTERM, then SIGKILL); safe to call twice."""
        process, self.process = self.process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def kill(self) -> None:
        """Kill the broker at once (SIGKILL), as a crash or a cut would."""
        process, self.process = self.process, None
        if process is not None:
            process.kill()
            process.wait()

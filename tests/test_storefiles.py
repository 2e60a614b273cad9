"""The database's lock and the crash-safe swap of a rebuilt database (`fieldkit recover`)."""

from __future__ import annotations

import json

import pytest

from fieldkit.errors import StoreError
from fieldkit.store import Store
from fieldkit.storefiles import beside, exclusive_lock, finish_swap, swap_in


def _database(path, title: str) -> None:
    with Store(path) as store, store.write() as conn:
        conn.execute("INSERT INTO rejections VALUES (?, 'fork', 1, 0, '')", [title])


def _origins(path) -> list[str]:
    with Store(path) as store:
        return [r[0] for r in store.conn.execute("SELECT origin FROM rejections")]


def test_an_open_store_and_recover_exclude_each_other(tmp_path):
    path = tmp_path / "fieldkit.db"
    with Store(path), pytest.raises(StoreError, match=r"is in use .*stop the node first"), \
            exclusive_lock(path):
        pass
    with exclusive_lock(path), pytest.raises(
            StoreError, match="is being rebuilt by `fieldkit recover`: wait"):
        Store(path)
    with Store(path), Store(path):  # several users at once (API workers, CLI)
        pass


@pytest.mark.parametrize("done", ["nothing", "linked", "wal_gone", "renamed"])
def test_an_interrupted_swap_is_refused_then_finished(tmp_path, done):
    """A swap cut at any step: the database is refused at open, and finish_swap (what
    recover runs first) completes it; the old database and its -wal are kept."""
    path, rebuilt, aside = (tmp_path / "fieldkit.db", tmp_path / "fieldkit.db.rebuilt",
                            tmp_path / "fieldkit.db.damaged-1")
    _database(path, "old")
    _database(rebuilt, "new")
    beside(path, "-wal").write_bytes(b"old wal")  # what a killed node leaves
    beside(path, ".swap").write_text(json.dumps({"rebuilt": rebuilt.name,
                                                 "aside": aside.name}))
    if done != "nothing":
        for suffix in ("", "-wal"):
            beside(aside, suffix).hardlink_to(beside(path, suffix))
    if done in ("wal_gone", "renamed"):
        beside(path, "-wal").unlink()
    if done == "renamed":
        rebuilt.replace(path)
    with pytest.raises(StoreError, match=r"was interrupted .* run `fieldkit recover` again"):
        Store(path)

    assert finish_swap(path) == aside

    assert beside(aside, "-wal").read_bytes() == b"old wal"
    assert not beside(path, "-wal").exists()  # never replayed into the new database
    assert _origins(path) == ["new"]
    assert _origins(aside) == ["old"]
    assert not rebuilt.exists()
    assert finish_swap(path) is None  # nothing pending any more


def test_swap_in_keeps_the_old_database(tmp_path):
    path, rebuilt = tmp_path / "fieldkit.db", tmp_path / "fieldkit.db.rebuilt"
    _database(path, "old")
    _database(rebuilt, "new")
    swap_in(path, rebuilt, tmp_path / "kept")
    assert (_origins(path), _origins(tmp_path / "kept")) == (["new"], ["old"])

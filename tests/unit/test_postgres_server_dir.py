"""Where the local PostgreSQL keeps its files: in the stack directory when the server's user can
reach it, else (root, a parent closed to other users) in a directory of its own under a shared
base, referred to from the stack directory and deleted with it. No server is started here: the
root checks are stood in for."""

from __future__ import annotations

import os

import pytest

from devstack import services
from devstack.jars import SetupError
from devstack.services import Postgres
from pinterest_common.config import Settings


@pytest.fixture
def bases(tmp_path, monkeypatch):
    shared = (tmp_path / "var-tmp", tmp_path / "tmp")
    for base in shared:
        base.mkdir()
    monkeypatch.setattr(services, "SERVER_DIR_BASES", shared)
    return shared


def postgres(tmp_path, name="stack") -> Postgres:
    settings = Settings.from_env({"PINTEREST_HOME": str(tmp_path / "home"), "PINTEREST_PG_PASSWORD": "pw"})
    return Postgres(settings, tmp_path / "home" / name)


def as_root(monkeypatch, reachable) -> list[tuple]:
    """We are root; the server's user reaches a directory iff `reachable(path)`."""
    checks = []

    def reaches(self, *dirs):
        checks.append(dirs)
        return all(reachable(d) for d in dirs)

    monkeypatch.setattr(Postgres, "_as_root", staticmethod(lambda: True))
    monkeypatch.setattr(Postgres, "_chown_to_server_user", lambda self, *paths: None)
    monkeypatch.setattr(Postgres, "_server_user_reaches", reaches)
    return checks


def test_not_root_the_cluster_stays_in_the_stack_directory(tmp_path, bases, monkeypatch):
    monkeypatch.setattr(Postgres, "_as_root", staticmethod(lambda: False))
    pg = postgres(tmp_path)
    assert pg._place_server_dir() == pg.dir
    assert pg.data_dir == pg.dir / "data" and pg._server_log(pg.dir) == pg.log_file
    assert not pg.server_link.exists() and list(bases[0].iterdir()) == []


def test_root_with_a_reachable_stack_directory_keeps_the_cluster_there(tmp_path, bases, monkeypatch):
    checks = as_root(monkeypatch, lambda path: True)
    pg = postgres(tmp_path)
    assert pg._place_server_dir() == pg.dir
    assert checks == [(pg.dir, pg.log_file.parent)]
    assert pg.log_file.is_file() and not pg.log_file.is_symlink()
    assert list(bases[0].iterdir()) == []


def test_root_under_a_closed_directory_the_cluster_moves_out_and_goes_with_the_stack(tmp_path, bases, monkeypatch):
    home = tmp_path / "home"
    as_root(monkeypatch, lambda path: not path.is_relative_to(home))
    pg = postgres(tmp_path)

    server_dir = pg._place_server_dir()
    assert server_dir.parent == bases[0] and server_dir.name.startswith(services.SERVER_DIR_PREFIX)
    assert pg.server_link.is_symlink() and pg.server_dir == server_dir
    assert pg.data_dir == server_dir / "data"
    assert (server_dir / "owner").read_text().strip() == str(pg.state_dir.resolve())
    log = pg._server_log(server_dir)
    assert log == server_dir / "postgres.log" and pg.log_file.resolve() == log
    log.write_text("a line\n")
    assert pg.log_file.read_text() == "a line\n"  # status and timeouts show it from the stack

    assert pg._place_server_dir() == server_dir  # a restart finds its cluster again
    assert pg._server_log(server_dir) == log and pg.log_file.read_text() == "a line\n"
    assert len(list(bases[0].iterdir())) == 1

    other = postgres(tmp_path, "other-stack")
    other_dir = other._place_server_dir()
    assert services.server_dirs_of([pg.state_dir]) == [server_dir]
    assert set(services.server_dirs_of([home])) == {server_dir, other_dir}

    pg.remove_data()
    assert not server_dir.exists() and not pg.server_link.is_symlink()
    assert other_dir.is_dir()
    assert services.remove_server_dirs([home]) == [other_dir] and not other_dir.exists()


def test_a_server_directory_that_vanished_is_made_again(tmp_path, bases, monkeypatch):
    as_root(monkeypatch, lambda path: not path.is_relative_to(tmp_path / "home"))
    pg = postgres(tmp_path)
    first = pg._place_server_dir()
    first.joinpath("owner").unlink()
    first.rmdir()
    second = pg._place_server_dir()
    assert second != first and second.is_dir() and pg.server_dir == second


def test_the_next_base_when_the_first_is_closed_too(tmp_path, bases, monkeypatch):
    as_root(monkeypatch, lambda path: path.is_relative_to(bases[1]))
    pg = postgres(tmp_path)
    assert pg._place_server_dir().parent == bases[1]
    assert list(bases[0].iterdir()) == []  # the unreachable attempt is not left behind


def test_a_clear_error_when_nothing_is_reachable(tmp_path, bases, monkeypatch):
    as_root(monkeypatch, lambda path: False)
    pg = postgres(tmp_path)
    with pytest.raises(SetupError, match=r"`postgres` user .* can reach neither .*chmod o\+x"):
        pg._place_server_dir()
    assert [list(base.iterdir()) for base in bases] == [[], []]


def test_server_dirs_of_ignores_strangers(tmp_path, bases):
    stack = tmp_path / "home" / "stack"
    mine = bases[0] / f"{services.SERVER_DIR_PREFIX}mine"
    mine.mkdir()
    (mine / "owner").write_text(f"{stack / 'nested'}\n")
    for name, owner in [("theirs", "/elsewhere/stack"), ("relative", "home/stack"), ("no-owner", None)]:
        path = bases[0] / f"{services.SERVER_DIR_PREFIX}{name}"
        path.mkdir()
        if owner:
            (path / "owner").write_text(owner)
    (bases[1] / "unrelated").mkdir()
    (bases[1] / "unrelated" / "owner").write_text(str(stack))
    os.symlink(mine, bases[1] / f"{services.SERVER_DIR_PREFIX}link")
    assert services.server_dirs_of([stack]) == [mine]

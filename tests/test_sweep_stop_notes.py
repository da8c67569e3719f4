"""sweep.stop_notes: a note left by the launcher that ran a trial is found by that trial's RUNNER, once."""
import os
import socket

from sweep import stop_notes


def test_a_note_is_taken_once_and_only_for_its_own_process(tmp_path, monkeypatch):
    monkeypatch.setattr(stop_notes.tempfile, "gettempdir", lambda: str(tmp_path))
    me = {"host": socket.gethostname(), "pid": os.getpid(), "in_launcher": True}
    assert not stop_notes.take("study/a", 7, me)  # no note: a stale trial counts a death as before
    stop_notes.leave("study/a", 7)
    assert not stop_notes.take("study/a", 8, me) and not stop_notes.take("study/b", 7, me)
    assert not stop_notes.take("study/a", 7, {**me, "pid": os.getpid() + 1})
    assert not stop_notes.take("study/a", 7, {**me, "host": "another-host"})
    assert stop_notes.take("study/a", 7, me) and not stop_notes.take("study/a", 7, me)


def test_a_note_that_cannot_be_written_is_no_error(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setattr(stop_notes.tempfile, "gettempdir", lambda: str(blocker))  # a file where the folder goes
    stop_notes.leave("study", 1)
    assert not stop_notes.take("study", 1, {"host": socket.gethostname(), "pid": os.getpid()})

"""bench.profile_api sums py-spy's raw stacks into self and total shares."""

from __future__ import annotations

from bench.profile_api import summarise


def test_self_and_total_shares_of_raw_stacks(tmp_path):
    one, two = tmp_path / "a.txt", tmp_path / "b.txt"
    one.write_text("main;handle;wait 6\nmain;handle;parse 2\n")
    two.write_text("main;idle 2\n")
    text = summarise([one, two], top=3)
    lines = text.splitlines()
    assert lines[0] == "10 samples"
    assert lines[1:5] == ["self:", "   60.0%  wait", "   20.0%  parse", "   20.0%  idle"]
    assert "  100.0%  main" in lines
    assert "   80.0%  handle" in lines

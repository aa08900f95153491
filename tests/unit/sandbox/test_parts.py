"""Small parts: output line splitting, cgroup layout detection, teardown proof."""

from __future__ import annotations

from pathlib import Path

from stockade.sandbox.cgroups import CgroupMode, SandboxCgroup, detect_mode, missing_controllers
from stockade.sandbox.interface import OutputLine
from stockade.sandbox.output import LineSplitter
from stockade.sandbox.teardown import SandboxTrace, find_leftovers


def _split(chunks: list[bytes], max_line: int = 8) -> list[str]:
    out: list[OutputLine] = []
    splitter = LineSplitter(2, "stdout", out.append, max_line=max_line)
    for chunk in chunks:
        splitter.feed(chunk)
    splitter.close()
    assert all(line.step == 2 and line.stream == "stdout" for line in out)
    return [line.text for line in out]


def test_lines_are_split_across_reads() -> None:
    assert _split([b"ab", b"c\nde", b"f\n\ng"]) == ["abc", "def", "", "g"]


def test_long_lines_are_chunked_and_bad_utf8_is_replaced() -> None:
    assert _split([b"0123456789abcdefXY\nz\n"]) == ["01234567", "89abcdef", "XY", "z"]
    assert _split([b"\xff\xfeok\n"]) == ["\ufffd\ufffdok"]


def test_cgroup_mode_detection(tmp_path: Path) -> None:
    assert detect_mode(tmp_path) is CgroupMode.NONE
    (tmp_path / "memory").mkdir()
    (tmp_path / "pids").mkdir()
    assert detect_mode(tmp_path) is CgroupMode.V1
    assert missing_controllers(CgroupMode.V1, tmp_path) == ["cpu"]
    (tmp_path / "unified").mkdir()
    (tmp_path / "unified" / "cgroup.controllers").write_text("hugetlb\n")
    assert detect_mode(tmp_path) is CgroupMode.HYBRID
    v2 = tmp_path / "v2"
    v2.mkdir()
    (v2 / "cgroup.controllers").write_text("cpu memory pids io\n")
    assert detect_mode(v2) is CgroupMode.V2
    assert missing_controllers(CgroupMode.V2, v2) == []


def test_cgroup_events_are_read_for_v1_and_v2(tmp_path: Path) -> None:
    for ctrl in ("memory", "pids"):
        (tmp_path / ctrl / "stockade" / "j").mkdir(parents=True)
        (tmp_path / ctrl / "cgroup.procs").write_text("")
    (tmp_path / "memory/stockade/j/memory.oom_control").write_text(
        "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n")
    (tmp_path / "pids/stockade/j/pids.events").write_text("max 5\n")
    events = SandboxCgroup(CgroupMode.V1, "/stockade/j", tmp_path).events()
    assert (events.oom_kills, events.pids_max_hits) == (2, 5)
    (tmp_path / "stockade/j").mkdir(parents=True)
    (tmp_path / "stockade/j/memory.events").write_text("low 0\nhigh 0\nmax 9\noom 1\noom_kill 1\n")
    events = SandboxCgroup(CgroupMode.V2, "/stockade/j", tmp_path).events()
    assert (events.oom_kills, events.pids_max_hits) == (1, 0)


def test_teardown_proof_reports_what_is_left(tmp_path: Path) -> None:
    job_dir = tmp_path / "job"
    cgroup_root = tmp_path / "cg"
    (cgroup_root / "memory").mkdir(parents=True)
    (cgroup_root / "memory" / "cgroup.procs").write_text("")
    trace = SandboxTrace(job_dir, SandboxCgroup(CgroupMode.V1, "/stockade/j", cgroup_root),
                         None, None, (tmp_path / "state",))
    assert find_leftovers(trace) == []
    job_dir.mkdir()
    (tmp_path / "state").mkdir()
    (cgroup_root / "memory" / "stockade" / "j").mkdir(parents=True)
    (cgroup_root / "memory" / "stockade" / "j" / "cgroup.procs").write_text("")
    left = find_leftovers(trace)
    assert any("job directory" in item for item in left)
    assert any("runtime state" in item for item in left)
    assert any("cgroup" in item for item in left)

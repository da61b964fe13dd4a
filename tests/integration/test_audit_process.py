"""The audit log of real processes: nothing is lost on SIGTERM or on a clean exit, the chain verifies
afterwards, and ``hookline audit tail --follow`` prints records another process writes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from hookline import audit
from hookline.audit.log import AuditRecord

pytestmark = pytest.mark.integration

CANARY = "canary-sigterm-5b9d"

# Does lookups through a cache with audit on, printing the number done after each one. Cache hits
# are aggregated for an hour, so they reach the file only through the exit flush.
CHILD = textwrap.dedent(
    f"""
    import sys
    from hookline import audit
    from hookline.resolve.cache import CachedResolver
    from hookline.resolve.chain import SecretsChain
    from hookline.testing import InMemoryBackend

    audit.enable(
        audit.AuditSettings(enabled=True, aggregate_interval_seconds=3600), home=sys.argv[1]
    )
    backend = InMemoryBackend(
        {{f"c{{i}}": "postgres://alice:{CANARY}@db/app" for i in range(20)}}
    )
    resolver = CachedResolver(SecretsChain([backend]))
    limit = int(sys.argv[2])
    done = 0
    while limit == 0 or done < limit:
        resolver.get_connection(f"c{{done % 20}}")
        done += 1
        print(done, flush=True)
    """
)


def _run_child(home: Path, limit: int) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOOKLINE_")}
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, str(home), str(limit)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _accesses(home: Path) -> int:
    """Lookups the log accounts for: one per ``lookup`` record plus each ``cache_hits`` count."""
    records = [
        AuditRecord.from_json(line) for _, _, line in audit.read_records(home / "audit.jsonl")
    ]
    assert {r.kind for r in records} <= {"lookup", "cache_hits"}
    return sum(r.count for r in records)


def _check_log(home: Path) -> None:
    result = audit.verify_log(home / "audit.jsonl")
    assert result.ok, result.problem
    raw = b"".join(p.read_bytes() for p in home.iterdir() if p.is_file())
    assert CANARY.encode() not in raw


def test_sigterm_loses_no_record(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with _run_child(home, 0) as child:
        assert child.stdout is not None
        assert child.stderr is not None
        for _ in range(300):  # let it run: 20 backend lookups, then cache hits
            assert child.stdout.readline()
        child.send_signal(signal.SIGTERM)
        rest = child.stdout.read()  # through the same buffered reader (communicate() bypasses it)
        errors = child.stderr.read()
        assert child.wait(30) == 128 + signal.SIGTERM, errors
    assert "Traceback" not in errors
    printed = [line for line in rest.splitlines() if line.strip()]
    done = int(printed[-1]) if printed else 300
    # the lookup under way when the signal came may have finished without its line printed
    assert done <= _accesses(home) <= done + 1
    _check_log(home)


def test_clean_exit_loses_no_record(tmp_path: Path) -> None:
    home = tmp_path / "home"
    child = _run_child(home, 500)
    out, errors = child.communicate(timeout=60)
    assert child.returncode == 0, errors
    assert out.split()[-1] == "500"
    assert _accesses(home) == 500
    _check_log(home)


def test_tail_follow_prints_what_another_process_writes(tmp_path: Path) -> None:
    home = tmp_path / "home"
    writer = _run_child(home, 5)  # creates the log and its key
    writer.communicate(timeout=60)
    env = {**os.environ, "HOOKLINE_HOME": str(home)}
    script = Path(sys.executable).parent / "hookline"
    tail = subprocess.Popen(
        [str(script), "audit", "tail", "-f", "-n", "0", "-o", "json", "--interval", "0.1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        time.sleep(1.5)  # the follower has started and read the existing records
        more = _run_child(home, 25)  # 15 more backend lookups, then 10 hits, in another process
        more.communicate(timeout=60)
        assert tail.stdout is not None
        seen: list[dict[str, object]] = []
        deadline = time.monotonic() + 20
        while sum(int(str(r["count"])) for r in seen) < 25 and time.monotonic() < deadline:
            line = tail.stdout.readline()
            if line.strip():
                seen.append(json.loads(line))
        assert sum(int(str(r["count"])) for r in seen) == 25
        assert [r["seq"] for r in seen] == list(
            range(int(str(seen[0]["seq"])), len(seen) + int(str(seen[0]["seq"])))
        )
    finally:
        tail.terminate()
        tail.communicate(timeout=10)

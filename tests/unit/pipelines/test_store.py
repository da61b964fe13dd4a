"""Where runs are recorded: a try is claimed by one worker and its outcome recorded once."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator

import pytest

from hookline.exceptions import ConfigurationError, RunNotFound
from hookline.pipelines import PipelineRun, TaskRecord, TaskState
from hookline.pipelines.store import MemoryStore, RunStore, Store, TryOutcome


@pytest.fixture(params=["sqlite", "memory"])
def store(request: pytest.FixtureRequest) -> Iterator[Store]:
    made: Store = RunStore() if request.param == "sqlite" else MemoryStore()
    run = PipelineRun("r1", "p", dt.datetime(2026, 12, 1, tzinfo=dt.UTC), started_at=time.time())
    made.create_run(run, "file:/x.py")
    made.put_task("r1", TaskRecord("t", max_tries=2))
    yield made
    made.close()


def test_a_try_is_claimed_once_and_finished_once(store: Store) -> None:
    """Only a queued try can be claimed; only its claimer can finish it, once."""
    assert store.claim("r1", "t", 1, "w1", None) is None  # not queued yet
    store.queue_try("r1", "t", 1)
    claimed = store.claim("r1", "t", 1, "w1", None)
    assert claimed is not None
    assert claimed.state == TaskState.RUNNING
    assert claimed.worker == "w1"
    assert store.claim("r1", "t", 1, "w2", None) is None  # running with a fresh heartbeat
    done = TryOutcome(TaskState.SUCCESS, time.time(), xcom={"return_value": "1"})
    assert not store.finish("r1", "t", 1, "w2", done)  # not the claimer
    assert store.finish("r1", "t", 1, "w1", done)
    assert not store.finish("r1", "t", 1, "w1", done)  # recorded once
    assert store.pull_xcom("r1", "t", "return_value") == "1"
    record = store.get_task("r1", "t")
    assert record is not None
    assert record.state == TaskState.SUCCESS
    assert store.run_reference("r1") == "file:/x.py"


def test_a_try_whose_heartbeat_stopped_can_be_taken_over(store: Store) -> None:
    """A running try with a heartbeat older than stale_before is stale: another worker takes it,
    and the first worker can no longer record its outcome."""
    store.queue_try("r1", "t", 1)
    assert store.claim("r1", "t", 1, "dead", None) is not None
    future = time.time() + 60
    assert store.stale_tries("r1", future) == [("t", 1)]
    assert store.claim("r1", "t", 1, "alive", time.time() - 60) is None  # still fresh
    assert store.claim("r1", "t", 1, "alive", future) is not None
    failed = TryOutcome(TaskState.FAILED, time.time(), error="x")
    assert not store.finish("r1", "t", 1, "dead", failed)
    assert store.finish("r1", "t", 1, "alive", failed)


def test_unknown_run_is_run_not_found(store: Store) -> None:
    """load_run of an unknown id raises RunNotFound."""
    with pytest.raises(RunNotFound, match="'nope'"):
        store.load_run("nope")
    assert store.list_runs("other") == []


def test_a_bad_database_url_is_a_configuration_error() -> None:
    """An unusable URL is a ConfigurationError, without the password."""
    with pytest.raises(ConfigurationError) as info:
        RunStore("nosuchdb://user:topsecret-pw@host/db")
    assert "topsecret-pw" not in str(info.value)

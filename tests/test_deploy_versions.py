"""Versions of a local deployment: roll out, broken version, rollback, canary, crash and
restart, overload. Traffic keeps flowing from a background thread while versions change,
and every answer is checked: no request may fail during a rollout or a rollback."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest

from jupyter_mlops.deploy import deploy, deployments, get_deployment, rollback, undeploy
from jupyter_mlops.deploy.target import DeployFailed
from tests.deploy_fixtures import DeployProject, get, post

pytestmark = pytest.mark.timeout(900)


class Traffic:
    """Requests in a loop from another thread; remembers every status and answer version."""

    def __init__(self, url: str, rows: list[list[float]]) -> None:
        self.url, self.rows = url, rows
        self.statuses: Counter[int] = Counter()
        self.versions: list[str] = []
        self.answers: dict[str, list[Any]] = {}
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                status, answer, headers = post(f"{self.url}/invocations",
                                               {"inputs": self.rows}, timeout=30)
            except OSError as exc:
                self.errors.append(repr(exc))
                continue
            self.statuses[status] += 1
            if status == 200:
                version = headers["X-Model-Version"]
                self.versions.append(version)
                self.answers.setdefault(version, answer["predictions"])
            else:
                self.errors.append(f"{status}: {answer}")

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(30)


@pytest.fixture(scope="module")
def versions(deploy_project: DeployProject) -> Iterator[Any]:
    """churn v1 deployed as "versions"; every test leaves v1 serving alone again."""
    deployment = deploy("models:/churn/1", name="versions", cwd=deploy_project.root)
    yield deployment
    undeploy("versions", cwd=deploy_project.root)


def test_rollout_and_rollback_without_a_failed_request(
        versions: Any, deploy_project: DeployProject) -> None:
    root, X = deploy_project.root, deploy_project.X
    rows = X[:2].tolist()
    with Traffic(versions.url, rows) as traffic:
        while len(traffic.versions) < 20:
            time.sleep(0.05)
        # @champion is version 2 of the registered model: a new deployment version 2
        steps: list[str] = []
        number = get_deployment("versions", cwd=root).next_version()
        second = deploy("models:/churn@champion", name="versions", cwd=root,
                        progress=steps.append)
        assert second.version == number and second.url == versions.url
        assert second.current.registered_version == "2"  # what the alias pointed at
        assert any(f"version {number}" in s for s in steps)
        seen = len(traffic.versions)
        while len(traffic.versions) < seen + 20:
            time.sleep(0.05)
        back = rollback("versions", cwd=root)
        assert back.version == 1
        seen = len(traffic.versions)
        while len(traffic.versions) < seen + 20:
            time.sleep(0.05)
    assert traffic.errors == [] and set(traffic.statuses) == {200}
    # answers moved from v1 to v2 and back, each equal to that model's own output
    order = [v for i, v in enumerate(traffic.versions) if i == 0 or traffic.versions[i - 1] != v]
    assert order == ["1", str(number), "1"]
    np.testing.assert_array_equal(np.array(traffic.answers["1"], dtype="float32"),
                                  deploy_project.predict_v1(X[:2]))
    assert not np.allclose(np.array(traffic.answers[str(number)], dtype="float32"),
                           deploy_project.expected_v1[:2])
    state = get_deployment("versions", cwd=root)
    assert state.history == [1]
    assert state.get_version(1).status == "serving"
    assert state.get_version(number).status == "rolled back"


def test_a_broken_new_version_leaves_the_old_one_serving_and_says_why(
        versions: Any, deploy_project: DeployProject) -> None:
    root = deploy_project.root
    number = get_deployment("versions", cwd=root).next_version()
    with Traffic(versions.url, deploy_project.X[:1].tolist()) as traffic, \
            pytest.raises(DeployFailed) as failed:
        deploy(str(deploy_project.broken), name="versions", cwd=root)
    message = str(failed.value)
    assert "\n" not in message
    assert message.startswith(f"version {number} did not become healthy: loading the model "
                              "failed")
    assert "BadZipFile" in message  # the loader's own reason
    assert message.endswith("version 1 keeps serving")
    assert traffic.errors == [] and set(traffic.statuses) == {200}
    assert set(traffic.versions) == {"1"}
    state = get_deployment("versions", cwd=root)
    assert state.status == "serving" and state.version == 1
    assert state.get_version(number).status == "failed"
    assert get(f"{versions.url}/health")[0] == 200


def test_canary_sends_exactly_its_share_and_rollback_drops_it(
        versions: Any, deploy_project: DeployProject) -> None:
    root = deploy_project.root
    number = get_deployment("versions", cwd=root).next_version()
    canary = deploy("models:/churn/2", name="versions", canary=25, cwd=root)
    assert canary.version == 1  # version 1 still takes most of the traffic
    assert canary.traffic == {"1": 75, str(number): 25}
    seen = Counter(post(f"{versions.url}/invocations",
                        {"inputs": deploy_project.X[:1].tolist()})[2]["X-Model-Version"]
                   for _ in range(100))
    assert seen == {"1": 75, str(number): 25}
    back = rollback("versions", cwd=root)
    assert back.traffic == {"1": 100}
    seen = Counter(post(f"{versions.url}/invocations",
                        {"inputs": deploy_project.X[:1].tolist()})[2]["X-Model-Version"]
                   for _ in range(20))
    assert seen == {"1": 20}
    with pytest.raises(Exception, match="no previous version"):
        rollback("versions", cwd=root)


def test_a_crashed_model_process_is_restarted(
        versions: Any, deploy_project: DeployProject) -> None:
    root = deploy_project.root
    before = get_deployment("versions", cwd=root)
    worker = before.details["workers"]["1"]
    os.kill(worker["pid"], signal.SIGKILL)
    deadline = time.monotonic() + 120
    statuses = set()
    while time.monotonic() < deadline:
        status, answer, _ = post(f"{versions.url}/invocations",
                                 {"inputs": deploy_project.X[:1].tolist()})
        statuses.add(status)
        if status == 200:
            break
        assert status == 503, answer  # said, not hung: "being restarted: retry"
        assert "being restarted" in answer["message"]
        time.sleep(0.2)
    assert 200 in statuses
    after = get_deployment("versions", cwd=root)
    assert after.status == "serving"
    assert after.details["workers"]["1"]["pid"] != worker["pid"]
    assert after.details["workers"]["1"]["restarts"] >= 1
    assert "model process exited" in "\n".join(
        __import__("jupyter_mlops.deploy", fromlist=["logs"]).logs("versions", cwd=root)
        .sections["serving process"])


def test_a_dead_serving_process_is_detected_and_can_be_undeployed(
        deploy_project: DeployProject) -> None:
    root = deploy_project.root
    deployed = deploy(str(deploy_project.local_v1), name="doomed", cwd=root)
    os.killpg(deployed.pid, signal.SIGKILL)  # the front and its worker, as after a reboot
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = {d.name: d for d in deployments(cwd=root)}
        if found["doomed"].status == "dead":
            break
        time.sleep(0.2)
    assert found["doomed"].status == "dead"
    assert "deploy again" in found["doomed"].health
    # deploying again to the name brings it back, as its next version
    revived = deploy(str(deploy_project.local_v1), name="doomed", cwd=root)
    assert revived.status == "serving" and revived.version == 2
    assert revived.get_version(1).status == "stopped"
    assert post(f"{revived.url}/invocations", {"inputs": deploy_project.X[:1].tolist()})[0] \
        == 200
    undeploy("doomed", cwd=root)
    assert "doomed" not in {d.name for d in deployments(cwd=root)}


def test_overload_answers_503_without_crashing_and_recovers(
        deploy_project: DeployProject) -> None:
    root = deploy_project.root
    slow = deploy(str(deploy_project.slow), name="slow", max_queue=2, max_batch_size=1,
                  cwd=root)
    try:
        def one(_: int) -> int:
            return post(f"{slow.url}/invocations",
                        {"dataframe_split": {"columns": ["x"], "data": [[1.0]]}})[0]

        with ThreadPoolExecutor(24) as pool:
            statuses = Counter(pool.map(one, range(24)))
        assert set(statuses) == {200, 503}, statuses  # nothing else: no 500, no reset
        assert statuses[503] >= 6 and statuses[200] >= 2
        assert get(f"{slow.url}/health")[0] == 200
        status, answer, _ = post(f"{slow.url}/invocations",
                                 {"dataframe_split": {"columns": ["x"], "data": [[3.0]]}})
        assert status == 200 and answer["predictions"] == [{"x": 6.0}]
        metrics = get_deployment("slow", cwd=root).metrics
        assert metrics["rejected"] == statuses[503]
    finally:
        undeploy("slow", cwd=root)

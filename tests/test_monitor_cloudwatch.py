"""A SageMaker deployment's summary from its CloudWatch metrics, against moto's server on
loopback: an EMULATOR of S3, SageMaker and CloudWatch, not AWS. What moto does not do is
said, and tested around:

- moto's SageMaker serves no model and publishes no metric: the tests put the points
  SageMaker would publish (``AWS/SageMaker``, dimensions ``EndpointName`` + ``VariantName``)
  into the emulated CloudWatch with ``put_metric_data``, then read the summary;
- moto's CloudWatch computes no percentile (``get_metric_statistics`` answers no
  ``ExtendedStatistics``; ``get_metric_data`` with ``Stat: p50`` even fails with a 500): the
  latency series are checked with botocore's Stubber, which validates each request against
  CloudWatch's API model, on answers with the percentiles AWS would give.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

import jupyter_mlops as mlops
from jupyter_mlops.config import load_config
from jupyter_mlops.deploy import deploy, undeploy
from jupyter_mlops.deploy.state import Deployment, DeploymentStore, VersionInfo
from jupyter_mlops.monitor.cloudwatch import history, metric_queries, read_metrics, window
from tests.deploy_fixtures import DeployProject, point_at_sagemaker_emulator

pytestmark = pytest.mark.timeout(300)
UTC = timezone.utc
BUCKET = "mlops-monitor-cw"


@pytest.fixture
def jp_server_config(jp_server_config: dict[str, Any]) -> dict[str, Any]:
    return {"ServerApp": {"jpserver_extensions": {"jupyter_mlops": True},
                          "allow_unauthenticated_access": False}}


@pytest.fixture
def aws(s3_emulator: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Credentials and SageMaker settings pointing at the emulator; a CloudWatch client on
    it, to put the points SageMaker would publish."""
    import boto3

    endpoint = point_at_sagemaker_emulator(s3_emulator, monkeypatch, BUCKET)
    return {"endpoint": endpoint,
            "cw": boto3.client("cloudwatch", endpoint_url=endpoint, region_name="us-east-1")}


def _put(cw: Any, endpoint: str, variant: str, when: datetime, **values: float) -> None:
    """Points as SageMaker publishes them for one variant (moto's SageMaker does not)."""
    dimensions = [{"Name": "EndpointName", "Value": endpoint},
                  {"Name": "VariantName", "Value": variant}]
    cw.put_metric_data(Namespace="AWS/SageMaker", MetricData=[
        {"MetricName": metric, "Dimensions": dimensions, "Timestamp": when,
         "Value": float(value),
         "Unit": "Microseconds" if metric.endswith("Latency") else "None"}
        for metric, value in values.items()])


def _traffic(cw: Any, endpoint: str) -> datetime:
    """Three minutes of traffic on variant v1 of ``endpoint``, ten minutes ago, and points
    that are not its own; returns the start of the first minute.

    minute 0: 30 requests, 2 4xx, 3 5xx; minute 1: 12 + 18 requests, 6 5xx; minute 3: 6
    requests. Not counted: another endpoint, a variant no version of it served, and a
    point two hours ago (outside the summary's hour)."""
    base = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=10)
    _put(cw, endpoint, "v1", base + timedelta(seconds=5), Invocations=30,
         Invocation4XXErrors=2, Invocation5XXErrors=3, ModelLatency=20000,
         OverheadLatency=1000)
    _put(cw, endpoint, "v1", base + timedelta(seconds=65), Invocations=12)
    _put(cw, endpoint, "v1", base + timedelta(seconds=70), Invocations=18,
         Invocation5XXErrors=6)
    _put(cw, endpoint, "v1", base + timedelta(seconds=185), Invocations=6,
         Invocation4XXErrors=0)
    _put(cw, "someone-else", "v1", base + timedelta(seconds=5), Invocations=1000)
    _put(cw, endpoint, "v9", base + timedelta(seconds=5), Invocations=500)
    _put(cw, endpoint, "v1", base - timedelta(hours=2), Invocations=77)
    return base


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat()


def test_summary_of_a_sagemaker_endpoint_on_the_emulator_comes_from_cloudwatch(
        aws: dict[str, Any], deploy_project: DeployProject) -> None:
    """Deployed to the emulated SageMaker, with the points SageMaker would publish put into
    the emulated CloudWatch: the summary's series and totals are those points, a minute
    each."""
    root = deploy_project.root
    deploy("models:/churn/1", target="sagemaker", name="churn-cw", cwd=root)
    try:
        base = _traffic(aws["cw"], "churn-cw")
        found = mlops.monitor.summary("churn-cw", cwd=root)
        assert (found.target, found.status, found.version) == ("sagemaker", "serving", 1)
        assert found.message is None
        assert found.interval_s == 60
        series = found.to_dict()["series"]
        assert series == {
            "t": [_iso(base + timedelta(minutes=m)) for m in (1, 2, 4)],  # end of each minute
            "rps": [0.5, 0.5, 0.1],  # 30, 30 and 6 requests a minute
            "p50_ms": [None, None, None],  # moto computes no percentile (see the Stubber test)
            "p99_ms": [None, None, None],
            "error_rate": [0.1, 0.2, 0.0],  # 3 / 30, 6 / 30, 0 / 6
            "batch_size": [None, None, None]}  # SageMaker publishes no batch size
        totals = found.to_dict()["totals"]
        assert totals == {"requests": 66, "errors": 9, "client_errors": 2, "rows": 66,
                          "by_code": {}, "by_version": {"1": 66}, "available": True}
        assert found.versions[0]["version"] == 1 and found.versions[0]["requests"] == 66
        assert "totals:    66 requests (9 errors, 2 client errors), 66 rows" in found.to_text()
        # a window from the middle of minute 1: minutes 1 and 3
        later = mlops.monitor.summary("churn-cw", since=_iso(base + timedelta(seconds=90)),
                                      cwd=root)
        assert later.to_dict()["series"]["rps"] == [0.5, 0.1]
        assert later.totals is not None and later.totals.requests == 36
    finally:
        undeploy("churn-cw", cwd=root)


def _stored(project: Path, name: str) -> None:
    """A SageMaker deployment as the store records it (its endpoint is not asked for)."""
    store = DeploymentStore(load_config(project).path("deploy.path"))
    store.save(Deployment(name, "sagemaker", status="serving", version=1,
                          versions=[VersionInfo(1, "models:/churn/1", status="serving")],
                          traffic={"1": 100}))


def test_cloudwatch_out_of_reach_is_the_summarys_one_line_message(
        aws: dict[str, Any], project: Path, closed_port_url: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """AWS (the emulator's address) refuses connections: a summary without series whose
    message says why in one line, no exception."""
    _stored(project, "churn-away")
    monkeypatch.setenv("AWS_ENDPOINT_URL", closed_port_url)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # the status check fails fast too
    found = mlops.monitor.summary("churn-away", cwd=project)
    assert found.message is not None and "\n" not in found.message
    assert found.message.startswith("CloudWatch could not be read: AWS is unreachable"), \
        found.message
    assert found.samples == [] and found.totals is None
    assert found.to_dict()["totals"]["available"] is False
    assert "note:      CloudWatch could not be read" in found.to_text()


def test_no_aws_credentials_is_the_summarys_one_line_message(
        project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                "AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    _stored(project, "churn-nocreds")
    found = mlops.monitor.summary("churn-nocreds", cwd=project)
    assert found.message is not None and "\n" not in found.message
    assert found.message.startswith(
        "CloudWatch could not be read: no AWS credentials found in the AWS chain")
    assert found.totals is None


def test_latency_percentiles_and_paging_against_cloudwatchs_api_model() -> None:
    """botocore's Stubber checks each request against CloudWatch's API model and answers as
    AWS would (moto computes no percentile): two variants in one minute (a canary), counts
    on two pages, then each variant's latencies. Latency = ModelLatency + OverheadLatency at
    the same percentile, in ms, the two variants weighted by their requests."""
    import boto3
    from botocore.stub import Stubber

    client = boto3.client("cloudwatch", region_name="us-east-1", aws_access_key_id="x",
                          aws_secret_access_key="x")
    start = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)
    end = start + timedelta(hours=1)
    minute = start + timedelta(minutes=5)
    request = {"MetricDataQueries": metric_queries("churn", ["v1", "v2"]),
               "StartTime": start, "EndTime": end, "ScanBy": "TimestampAscending"}

    def result(query_id: str, *values: float) -> dict[str, Any]:
        return {"Id": query_id, "Label": query_id, "StatusCode": "Complete",
                "Timestamps": [minute + timedelta(minutes=i) for i in range(len(values))],
                "Values": list(values)}

    def latencies(variant: str, metric: str, *points: dict[str, float]) -> tuple[
            dict[str, Any], dict[str, Any]]:
        asked = {"Namespace": "AWS/SageMaker", "MetricName": metric,
                 "Dimensions": [{"Name": "EndpointName", "Value": "churn"},
                                {"Name": "VariantName", "Value": variant}],
                 "StartTime": start, "EndTime": end, "Period": 60,
                 "ExtendedStatistics": ["p50", "p99"]}
        answer = {"Label": metric, "Datapoints": [
            {"Timestamp": minute + timedelta(minutes=i), "Unit": "Microseconds",
             "ExtendedStatistics": point} for i, point in enumerate(points)]}
        return answer, asked

    first = {"MetricDataResults": [
        result("v0_requests", 30, 4), result("v0_errors", 3), result("v0_client_errors", 0)],
        "NextToken": "page-2"}
    second = {"MetricDataResults": [result("v1_requests", 10), result("v1_errors", 1)]}
    with Stubber(client) as stub:
        stub.add_response("get_metric_data", first, request)
        stub.add_response("get_metric_data", second, {**request, "NextToken": "page-2"})
        stub.add_response("get_metric_statistics", *latencies(
            "v1", "ModelLatency", {"p50": 20000, "p99": 80000}, {"p50": 5000, "p99": 9000}))
        stub.add_response("get_metric_statistics", *latencies(
            "v1", "OverheadLatency", {"p50": 1000, "p99": 5000}, {"p50": 500, "p99": 1000}))
        stub.add_response("get_metric_statistics", *latencies(
            "v2", "ModelLatency", {"p50": 40000, "p99": 100000}))
        stub.add_response("get_metric_statistics", *latencies(
            "v2", "OverheadLatency", {"p50": 2000}))  # no overhead p99 for v2 this minute
        points = read_metrics(client, "churn", ["v1", "v2"], start, end)
        stub.assert_no_pending_responses()
    measured = history(points, ["1", "2"])
    t0 = (minute + timedelta(minutes=1)).timestamp()
    assert measured["samples"] == [
        {"t": t0, "requests": 40, "errors": 4, "client_errors": 0, "rows": 40,
         "p50_ms": 26.25,  # (21 ms × 30 + 42 ms × 10) / 40
         "p99_ms": 88.75,  # (85 ms × 30 + 100 ms × 10) / 40
         "mean_batch": None},
        {"t": t0 + 60, "requests": 4, "errors": 0, "client_errors": 0, "rows": 4,
         "p50_ms": 5.5, "p99_ms": 10.0, "mean_batch": None}]
    assert measured["totals"] == {"requests": 44, "errors": 4, "client_errors": 0,
                                  "rows": 44, "by_version": {"1": 34, "2": 10}}
    queries = request["MetricDataQueries"]
    assert len(queries) == 6 and {q["MetricStat"]["Period"] for q in queries} == {60}
    assert {(q["MetricStat"]["Metric"]["MetricName"], q["MetricStat"]["Stat"])
            for q in queries} == {
        ("Invocations", "Sum"), ("Invocation4XXErrors", "Sum"), ("Invocation5XXErrors", "Sum")}
    assert queries[3]["MetricStat"]["Metric"]["Dimensions"] == [
        {"Name": "EndpointName", "Value": "churn"}, {"Name": "VariantName", "Value": "v2"}]


def test_the_window_is_whole_minutes_and_no_older_than_cloudwatch_keeps() -> None:
    now = datetime(2026, 12, 4, 10, 30, 45, 123, tzinfo=UTC)
    assert window(None, now) == (datetime(2026, 12, 4, 9, 30, tzinfo=UTC), now)
    assert window(now - timedelta(minutes=5, seconds=30), now)[0] == datetime(
        2026, 12, 4, 10, 25, tzinfo=UTC)
    assert window(now - timedelta(days=40), now)[0] == datetime(
        2026, 11, 19, 10, 30, tzinfo=UTC)  # 15 days


async def test_the_summary_route_of_a_sagemaker_endpoint(
        jp_fetch: Any, jp_root_dir: Path, aws: dict[str, Any],
        deploy_project: DeployProject) -> None:
    """The Monitor panel's route for an endpoint deployed to the emulated SageMaker: the
    series and totals of the points put into the emulated CloudWatch."""
    project = jp_root_dir / "cw"
    shutil.copytree(deploy_project.local_v1, project / "models" / "churn-v1")
    (project / "mlops.toml").write_text('[tracking]\nexperiment = "monitor-cw"\n')
    await asyncio.to_thread(deploy, str(project / "models" / "churn-v1"), target="sagemaker",
                            name="churn-cw-rest", cwd=project)
    try:
        base = _traffic(aws["cw"], "churn-cw-rest")
        response = await jp_fetch("mlops", "api", "monitor", "deployments", "churn-cw-rest",
                                  params={"path": "cw", "since": "1h"})
        assert response.code == 200
        summary = json.loads(response.body.decode())
        assert summary["target"] == "sagemaker" and summary["message"] is None
        assert summary["interval_s"] == 60
        assert summary["series"]["t"] == [_iso(base + timedelta(minutes=m)) for m in (1, 2, 4)]
        assert summary["series"]["rps"] == [0.5, 0.5, 0.1]
        assert summary["series"]["error_rate"] == [0.1, 0.2, 0.0]
        assert {k: summary["totals"][k] for k in ("requests", "errors", "rows")} == {
            "requests": 66, "errors": 9, "rows": 66}
    finally:
        await asyncio.to_thread(undeploy, "churn-cw-rest", cwd=project)

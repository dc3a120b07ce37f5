"""Bucket lifecycle rules with boto3 and the aws CLI: Get/Put/DeleteBucketLifecycleConfiguration
with AWS's errors, kept across a restart; x-amz-expiration on PUT, GET and HEAD; and expiry by
`nuage serve` with the lifecycle day shortened by the test setting (`[testing]
lifecycle-day-seconds = 2`), checked object by object, with incomplete uploads aborted, in the
audit log and the metrics."""
import json
import re
import subprocess
import time
import urllib.request

import pytest

from conftest import Server, free_port
from test_sse_c import refused

DAY = 2  # seconds in a lifecycle day for these tests


def rules(*rule_list):
    return {"Rules": list(rule_list)}


def rule(rule_id, filter_, **actions):
    return dict({"ID": rule_id, "Status": "Enabled", "Filter": filter_}, **actions)


@pytest.fixture
def short_day():
    metrics = free_port()
    server = Server("--metrics-listen", f"127.0.0.1:{metrics}")
    server.reconfigure("[audit]", f"[testing]\nlifecycle-day-seconds = {DAY}\n\n[audit]")
    server.metrics = metrics
    yield server
    server.stop()


def test_configuration_errors_and_restart(server, s3, bucket):
    assert refused(lambda: s3.get_bucket_lifecycle_configuration(Bucket=bucket)) == (404, "NoSuchLifecycleConfiguration")
    s3.delete_bucket_lifecycle(Bucket=bucket)
    configuration = rules(
        rule("logs", {"Prefix": "logs/"}, Expiration={"Days": 30}),
        rule("big-tmp", {"And": {"Prefix": "tmp/", "Tags": [{"Key": "kind", "Value": "scratch"}], "ObjectSizeGreaterThan": 1024}},
             Expiration={"Date": "2030-01-01T00:00:00Z"}),
        dict(rule("uploads", {"Prefix": ""}, AbortIncompleteMultipartUpload={"DaysAfterInitiation": 7}), Status="Disabled"))
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration=configuration)
    got = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert [r["ID"] for r in got] == ["logs", "big-tmp", "uploads"]
    assert got[0]["Expiration"] == {"Days": 30} and got[0]["Filter"] == {"Prefix": "logs/"}
    assert got[1]["Filter"]["And"]["ObjectSizeGreaterThan"] == 1024 and got[1]["Expiration"]["Date"].year == 2030
    assert got[2]["Status"] == "Disabled" and got[2]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 7}

    def put(*rule_list):
        return refused(lambda: s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration=rules(*rule_list)))
    assert put(rule("t", {"Prefix": ""}, Transitions=[{"Days": 30, "StorageClass": "GLACIER"}])) == (501, "NotImplemented")
    assert put(rule("n", {"Prefix": ""}, NoncurrentVersionExpiration={"NoncurrentDays": 0})) == (400, "InvalidArgument")
    assert put(rule("n", {"Prefix": ""}, NoncurrentVersionExpiration={"NoncurrentDays": 1, "NewerNoncurrentVersions": 101})) == (400, "InvalidArgument")
    assert put(rule("d", {"Prefix": ""}, Expiration={"Days": 0})) == (400, "InvalidArgument")
    assert put(rule("m", {"Prefix": ""}, Expiration={"Date": "2030-01-01T12:00:00Z"})) == (400, "InvalidArgument")
    assert put(rule("x", {"Prefix": "a"}, Expiration={"Days": 1}), rule("x", {"Prefix": "b"}, Expiration={"Days": 1})) == (400, "InvalidArgument")
    assert put(rule("none", {"Prefix": ""})) == (400, "InvalidRequest")
    assert put(rule("tag-abort", {"Tag": {"Key": "k", "Value": "v"}}, AbortIncompleteMultipartUpload={"DaysAfterInitiation": 1})) == (400, "InvalidRequest")
    assert put(rule("sizes", {"And": {"Prefix": "", "ObjectSizeGreaterThan": 10, "ObjectSizeLessThan": 5}}, Expiration={"Days": 1})) == (400, "InvalidArgument")
    assert [r["ID"] for r in s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]] == ["logs", "big-tmp", "uploads"], \
        "a refused configuration leaves the one in place"

    # x-amz-expiration: Days from the object's time, rounded up to the next midnight UTC.
    s3.put_object(Bucket=bucket, Key="logs/a", Body=b"log")
    head = s3.head_object(Bucket=bucket, Key="logs/a")
    match = re.fullmatch(r'expiry-date="(.+)", rule-id="logs"', head["Expiration"])
    assert match and match.group(1).endswith(" 00:00:00 GMT"), head["Expiration"]
    assert s3.get_object(Bucket=bucket, Key="logs/a")["Expiration"] == head["Expiration"]
    assert s3.put_object(Bucket=bucket, Key="logs/b", Body=b"log")["Expiration"] == head["Expiration"]
    s3.put_object(Bucket=bucket, Key="other", Body=b"o")
    assert "Expiration" not in s3.head_object(Bucket=bucket, Key="other")

    # The aws CLI reads them back too.
    cli = subprocess.run(["aws", "--endpoint-url", server.endpoint, "s3api", "get-bucket-lifecycle-configuration", "--bucket", bucket],
                         capture_output=True, text=True, env=server.env(), timeout=60)
    assert cli.returncode == 0 and json.loads(cli.stdout)["Rules"][0]["ID"] == "logs", cli.stderr
    s3.delete_bucket_lifecycle(Bucket=bucket)
    assert refused(lambda: s3.get_bucket_lifecycle_configuration(Bucket=bucket)) == (404, "NoSuchLifecycleConfiguration")


def until(condition, seconds=30):
    deadline = time.time() + seconds
    while not condition():
        assert time.time() < deadline, "not within the time given"
        time.sleep(0.25)


def test_expiry_object_by_object(short_day):
    server = short_day
    s3 = server.client()
    s3.create_bucket(Bucket="expiring")
    put = {
        "logs/old": (b"x" * 10, "temporary"), "logs/big": (b"x" * 5000, "temporary"), "logs/kept": (b"x" * 10, "keep"),
        "data/file": (b"x" * 10, "temporary"), "tmp/scratch": (b"s", "temporary"),
    }
    s3.put_bucket_lifecycle_configuration(Bucket="expiring", LifecycleConfiguration=rules(
        rule("logs", {"And": {"Prefix": "logs/", "Tags": [{"Key": "class", "Value": "temporary"}], "ObjectSizeLessThan": 1000}},
             Expiration={"Days": 1}),
        rule("tmp", {"Prefix": "tmp/"}, Expiration={"Days": 2}),
        rule("uploads", {"Prefix": "up/"}, AbortIncompleteMultipartUpload={"DaysAfterInitiation": 1}),
        dict(rule("off", {"Prefix": "data/"}, Expiration={"Days": 1}), Status="Disabled")))
    for key, (body, tag) in put.items():
        s3.put_object(Bucket="expiring", Key=key, Body=body, Tagging=f"class={tag}")
    upload = s3.create_multipart_upload(Bucket="expiring", Key="up/partial")["UploadId"]
    s3.upload_part(Bucket="expiring", Key="up/partial", UploadId=upload, PartNumber=1, Body=b"p" * 100)
    kept_upload = s3.create_multipart_upload(Bucket="expiring", Key="other/partial")["UploadId"]

    def keys():
        return sorted(o["Key"] for o in s3.list_objects_v2(Bucket="expiring").get("Contents", []))
    # logs/old (tagged, small) goes after one day; tmp/scratch after two; the rest stays.
    until(lambda: "logs/old" not in keys())
    assert {"logs/big", "logs/kept", "data/file"} <= set(keys())
    until(lambda: "tmp/scratch" not in keys())
    until(lambda: [u["UploadId"] for u in s3.list_multipart_uploads(Bucket="expiring").get("Uploads", [])] == [kept_upload])
    time.sleep(3 * DAY)
    assert keys() == ["data/file", "logs/big", "logs/kept"]
    assert [u["Key"] for u in s3.list_multipart_uploads(Bucket="expiring").get("Uploads", [])] == ["other/partial"]
    audit = server.run("audit", "show")
    assert "lifecycle.expire" in audit and "expiring/logs/old by rule logs" in audit and "expiring/tmp/scratch by rule tmp" in audit
    assert "lifecycle.abort-upload" in audit and "expiring/up/partial" in audit
    with urllib.request.urlopen(f"http://127.0.0.1:{server.metrics}/metrics", timeout=30) as response:
        metrics = response.read().decode()
    assert re.search(r"^nuage_lifecycle_expired_objects_total(\{[^}]*\})? 2(\.0)?$", metrics, re.M), metrics
    assert re.search(r"^nuage_lifecycle_aborted_uploads_total(\{[^}]*\})? 1(\.0)?$", metrics, re.M)
    # The rules survive a restart.
    server.process.terminate()
    server.process.wait(timeout=30)
    server.start()
    assert len(server.client().get_bucket_lifecycle_configuration(Bucket="expiring")["Rules"]) == 4

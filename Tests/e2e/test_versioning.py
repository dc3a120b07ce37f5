"""Versioning and Object Lock with boto3 and the aws CLI: a versioned bucket's life (null
version, versions, delete markers, reads, copies, tags and deletes by version id, listing with
paging, suspension, a restart), and Object Lock refusing deletes in both modes, whoever asks:
clients with or without governance bypass, a bucket policy, `nuage rm`, gc and a drain."""
import datetime
import hashlib
import json
import os
import subprocess
import time

import botocore.exceptions
import pytest

from conftest import Server
from test_bad_input import exchange
from test_drain import DRAINED, blob_files, mark_draining, remove_provider
from test_owners import as_key, client_of
from test_sse_c import refused


@pytest.fixture(scope="module")
def gateway():
    server = Server()
    yield server
    server.stop()


def versions_of(s3, bucket, **params):
    """(key, version id, is latest, is delete marker) in listing order, over every page."""
    entries = []
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, **params):
        merged = [(v, False) for v in page.get("Versions", [])] + [(m, True) for m in page.get("DeleteMarkers", [])]
        # boto3 splits versions from markers; the server's order is by key, newest first.
        merged.sort(key=lambda e: (e[0]["Key"], -e[0]["LastModified"].timestamp()))
        entries += [(e["Key"], e["VersionId"], e["IsLatest"], marker) for e, marker in merged]
    return entries


def read(s3, bucket, key, **params):
    return s3.get_object(Bucket=bucket, Key=key, **params)["Body"].read()


def empty_versioned(s3, bucket, bypass=False):
    for key, version, _, _ in versions_of(s3, bucket):
        s3.delete_object(Bucket=bucket, Key=key, VersionId=version, **({"BypassGovernanceRetention": True} if bypass else {}))
    s3.delete_bucket(Bucket=bucket)


def test_a_versioned_bucket_keeps_every_version(gateway):
    s3 = gateway.client()
    s3.create_bucket(Bucket="history")
    assert "Status" not in s3.get_bucket_versioning(Bucket="history")
    s3.put_object(Bucket="history", Key="doc", Body=b"before versioning")
    s3.put_bucket_versioning(Bucket="history", VersioningConfiguration={"Status": "Enabled"})
    assert s3.get_bucket_versioning(Bucket="history")["Status"] == "Enabled"
    v2 = s3.put_object(Bucket="history", Key="doc", Body=b"second")["VersionId"]
    v3 = s3.put_object(Bucket="history", Key="doc", Body=b"third")["VersionId"]
    assert len({v2, v3, "null"}) == 3 and len(v2) == 32

    assert read(s3, "history", "doc") == b"third"
    assert read(s3, "history", "doc", VersionId=v2) == b"second"
    assert read(s3, "history", "doc", VersionId="null") == b"before versioning"
    head = s3.head_object(Bucket="history", Key="doc", VersionId=v2)
    assert head["VersionId"] == v2 and head["ContentLength"] == 6
    assert versions_of(s3, "history") == [("doc", v3, True, False), ("doc", v2, False, False), ("doc", "null", False, False)]
    assert refused(lambda: s3.get_object(Bucket="history", Key="doc", VersionId="0" * 32)) == (404, "NoSuchVersion")
    assert refused(lambda: s3.get_object(Bucket="history", Key="doc", VersionId="not-an-id")) == (400, "InvalidArgument")

    # A delete without a version id leaves a delete marker; the versions stay readable by id.
    deleted = s3.delete_object(Bucket="history", Key="doc")
    marker = deleted["VersionId"]
    assert deleted["DeleteMarker"] is True and marker not in (v2, v3)
    status, headers, _ = exchange(gateway, "GET", "/history/doc")
    assert status == 404 and headers["x-amz-delete-marker"] == "true" and headers["x-amz-version-id"] == marker
    status, headers, _ = exchange(gateway, "GET", f"/history/doc?versionId={marker}")
    assert status == 405 and headers["x-amz-delete-marker"] == "true"
    assert "Contents" not in s3.list_objects_v2(Bucket="history")
    assert versions_of(s3, "history")[0] == ("doc", marker, True, True)
    assert read(s3, "history", "doc", VersionId=v3) == b"third"

    # Removing the marker brings the newest version back; removing a version is for good.
    removed = s3.delete_object(Bucket="history", Key="doc", VersionId=marker)
    assert removed["DeleteMarker"] is True and removed["VersionId"] == marker
    assert read(s3, "history", "doc") == b"third"
    assert s3.delete_object(Bucket="history", Key="doc", VersionId=v2)["VersionId"] == v2
    assert refused(lambda: s3.get_object(Bucket="history", Key="doc", VersionId=v2)) == (404, "NoSuchVersion")
    assert [v for _, v, _, _ in versions_of(s3, "history")] == [v3, "null"]

    # Copies from a version, tags on a noncurrent one.
    copied = s3.copy_object(Bucket="history", Key="copy", CopySource={"Bucket": "history", "Key": "doc", "VersionId": "null"})
    assert copied["CopySourceVersionId"] == "null" and copied["VersionId"] not in ("null", v3)
    assert read(s3, "history", "copy") == b"before versioning"
    s3.put_object_tagging(Bucket="history", Key="doc", VersionId="null", Tagging={"TagSet": [{"Key": "era", "Value": "old"}]})
    assert s3.get_object_tagging(Bucket="history", Key="doc", VersionId="null")["TagSet"] == [{"Key": "era", "Value": "old"}]
    assert s3.get_object_tagging(Bucket="history", Key="doc")["TagSet"] == []

    # Paging one entry at a time, and with a delimiter.
    for i in range(3):
        s3.put_object(Bucket="history", Key="dir/a", Body=str(i).encode())
    everything = versions_of(s3, "history")
    assert versions_of(s3, "history", PaginationConfig={"PageSize": 1}) == everything
    assert len(everything) == 3 + 1 + 2
    rolled = s3.list_object_versions(Bucket="history", Delimiter="/")
    assert [p["Prefix"] for p in rolled["CommonPrefixes"]] == ["dir/"]
    assert {v["Key"] for v in rolled["Versions"]} == {"copy", "doc"}
    page = s3.list_object_versions(Bucket="history", MaxKeys=2)
    assert page["IsTruncated"] and page["NextKeyMarker"] == "dir/a"
    rest = s3.list_object_versions(Bucket="history", KeyMarker=page["NextKeyMarker"], VersionIdMarker=page["NextVersionIdMarker"])
    assert len(rest["Versions"]) + len(rest.get("DeleteMarkers", [])) == len(everything) - 2

    # DeleteObjects with and without version ids.
    answer = s3.delete_objects(Bucket="history", Delete={"Objects": [{"Key": "copy"}, {"Key": "doc", "VersionId": v3}]})
    by_key = {d["Key"]: d for d in answer["Deleted"]}
    assert by_key["copy"]["DeleteMarker"] is True and by_key["copy"]["DeleteMarkerVersionId"]
    assert by_key["doc"]["VersionId"] == v3 and "Errors" not in answer
    assert read(s3, "history", "doc") == b"before versioning", "the null version is current again"

    # A bucket with versions is not empty; a restart keeps everything.
    assert refused(lambda: s3.delete_bucket(Bucket="history")) == (409, "BucketNotEmpty")
    before = versions_of(s3, "history")
    gateway.process.terminate()
    gateway.process.wait(timeout=30)
    gateway.start()
    s3 = gateway.client()
    assert versions_of(s3, "history") == before
    assert read(s3, "history", "dir/a", VersionId=[v for k, v, _, _ in before if k == "dir/a"][1]) == b"1"
    empty_versioned(s3, "history")


def test_suspended_versioning_writes_the_null_version(gateway):
    s3 = gateway.client()
    s3.create_bucket(Bucket="paused")
    s3.put_bucket_versioning(Bucket="paused", VersioningConfiguration={"Status": "Enabled"})
    kept = s3.put_object(Bucket="paused", Key="k", Body=b"versioned")["VersionId"]
    s3.put_bucket_versioning(Bucket="paused", VersioningConfiguration={"Status": "Suspended"})
    assert s3.put_object(Bucket="paused", Key="k", Body=b"null one")["VersionId"] == "null"
    assert s3.put_object(Bucket="paused", Key="k", Body=b"null two")["VersionId"] == "null"
    assert [v for _, v, _, _ in versions_of(s3, "paused")] == ["null", kept], "the second null version replaced the first"
    deleted = s3.delete_object(Bucket="paused", Key="k")
    assert deleted["DeleteMarker"] is True and deleted["VersionId"] == "null"
    assert versions_of(s3, "paused") == [("k", "null", True, True), ("k", kept, False, False)]
    assert read(s3, "paused", "k", VersionId=kept) == b"versioned"
    assert refused(lambda: s3.put_bucket_versioning(Bucket="paused", VersioningConfiguration={"Status": "Off"})) == (400, "MalformedXML")
    empty_versioned(s3, "paused")


def test_a_policy_can_forbid_deleting_versions(gateway):
    """The classic protection without Object Lock: Deny s3:DeleteObjectVersion. Deletes still
    leave markers; nothing can remove a version for good, through DeleteObjects either."""
    s3 = gateway.client()
    s3.create_bucket(Bucket="guarded")
    s3.put_bucket_versioning(Bucket="guarded", VersioningConfiguration={"Status": "Enabled"})
    version = s3.put_object(Bucket="guarded", Key="k", Body=b"kept")["VersionId"]
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Principal": "*", "Action": "s3:DeleteObjectVersion",
                                                      "Resource": "arn:aws:s3:::guarded/*"}]}
    s3.put_bucket_policy(Bucket="guarded", Policy=json.dumps(policy))
    assert s3.delete_object(Bucket="guarded", Key="k")["DeleteMarker"] is True
    assert refused(lambda: s3.delete_object(Bucket="guarded", Key="k", VersionId=version)) == (403, "AccessDenied")
    answer = s3.delete_objects(Bucket="guarded", Delete={"Objects": [{"Key": "k", "VersionId": version}]})
    assert answer["Errors"][0]["Code"] == "AccessDenied"
    assert read(s3, "guarded", "k", VersionId=version) == b"kept"
    # Reading a version is s3:GetObjectVersion: a Deny on it leaves current reads alone.
    policy["Statement"].append({"Effect": "Deny", "Principal": "*", "Action": "s3:GetObjectVersion", "Resource": "arn:aws:s3:::guarded/*"})
    s3.put_bucket_policy(Bucket="guarded", Policy=json.dumps(policy))
    assert refused(lambda: s3.get_object(Bucket="guarded", Key="k", VersionId=version)) == (403, "AccessDenied")
    s3.delete_bucket_policy(Bucket="guarded")
    empty_versioned(s3, "guarded")


def test_the_aws_cli_reads_versions(gateway):
    env = gateway.env()

    def aws(*args):
        return subprocess.run(["aws", "--endpoint-url", gateway.endpoint, "s3api", *args], env=env, capture_output=True, text=True, check=True).stdout

    aws("create-bucket", "--bucket", "cli-versions")
    aws("put-bucket-versioning", "--bucket", "cli-versions", "--versioning-configuration", "Status=Enabled")
    assert json.loads(aws("get-bucket-versioning", "--bucket", "cli-versions"))["Status"] == "Enabled"
    path = os.path.join(gateway.dir, "cli-body")
    ids = []
    for text in (b"one", b"two"):
        open(path, "wb").write(text)
        ids.append(json.loads(aws("put-object", "--bucket", "cli-versions", "--key", "f", "--body", path))["VersionId"])
    listed = json.loads(aws("list-object-versions", "--bucket", "cli-versions"))
    assert [v["VersionId"] for v in listed["Versions"]] == ids[::-1]
    out = os.path.join(gateway.dir, "cli-out")
    aws("get-object", "--bucket", "cli-versions", "--key", "f", "--version-id", ids[0], out)
    assert open(out, "rb").read() == b"one"
    s3 = gateway.client()
    empty_versioned(s3, "cli-versions")


def in_seconds(seconds):
    return datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=seconds)


def test_object_lock_refuses_deletes_in_both_modes(gateway):
    s3 = gateway.client()
    assert refused(lambda: s3.put_object(Bucket="nolock", Key="k", Body=b"x", ObjectLockMode="GOVERNANCE",
                                         ObjectLockRetainUntilDate=in_seconds(60))) == (404, "NoSuchBucket")
    s3.create_bucket(Bucket="plain-bucket")
    assert refused(lambda: s3.put_object(Bucket="plain-bucket", Key="k", Body=b"x", ObjectLockMode="GOVERNANCE",
                                         ObjectLockRetainUntilDate=in_seconds(60))) == (400, "InvalidRequest")
    assert refused(lambda: s3.get_object_lock_configuration(Bucket="plain-bucket"))[1] == "ObjectLockConfigurationNotFoundError"
    assert refused(lambda: s3.put_object_lock_configuration(
        Bucket="plain-bucket", ObjectLockConfiguration={"ObjectLockEnabled": "Enabled"})) == (409, "InvalidBucketState")
    s3.delete_bucket(Bucket="plain-bucket")

    s3.create_bucket(Bucket="vault", ObjectLockEnabledForBucket=True)
    assert s3.get_bucket_versioning(Bucket="vault")["Status"] == "Enabled"
    assert refused(lambda: s3.put_bucket_versioning(Bucket="vault", VersioningConfiguration={"Status": "Suspended"})) == (409, "InvalidBucketState")
    assert s3.get_object_lock_configuration(Bucket="vault")["ObjectLockConfiguration"] == {"ObjectLockEnabled": "Enabled"}

    governed = s3.put_object(Bucket="vault", Key="governed", Body=b"g", ObjectLockMode="GOVERNANCE",
                             ObjectLockRetainUntilDate=in_seconds(3600))["VersionId"]
    complied = s3.put_object(Bucket="vault", Key="complied", Body=b"c", ObjectLockMode="COMPLIANCE",
                             ObjectLockRetainUntilDate=in_seconds(3600))["VersionId"]
    head = s3.head_object(Bucket="vault", Key="complied")
    assert head["ObjectLockMode"] == "COMPLIANCE" and head["ObjectLockRetainUntilDate"] > in_seconds(3500)
    assert s3.get_object_retention(Bucket="vault", Key="governed", VersionId=governed)["Retention"]["Mode"] == "GOVERNANCE"

    # Neither version can be deleted without bypass; COMPLIANCE not even with it.
    for key, version in (("governed", governed), ("complied", complied)):
        assert refused(lambda: s3.delete_object(Bucket="vault", Key=key, VersionId=version)) == (403, "AccessDenied")
    assert refused(lambda: s3.delete_object(Bucket="vault", Key="complied", VersionId=complied, BypassGovernanceRetention=True)) == (403, "AccessDenied")
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        s3.delete_object(Bucket="vault", Key="complied", VersionId=complied)
    assert raised.value.response["Error"]["Message"].startswith("Access Denied because object protected by object lock"), raised.value.response
    answer = s3.delete_objects(Bucket="vault", Delete={"Objects": [{"Key": "complied", "VersionId": complied}]})
    assert answer["Errors"][0]["Code"] == "AccessDenied"
    # Shortening COMPLIANCE is refused; extending it works; GOVERNANCE yields to a bypass.
    assert refused(lambda: s3.put_object_retention(Bucket="vault", Key="complied", VersionId=complied, BypassGovernanceRetention=True,
                                                   Retention={"Mode": "COMPLIANCE", "RetainUntilDate": in_seconds(60)})) == (403, "AccessDenied")
    s3.put_object_retention(Bucket="vault", Key="complied", VersionId=complied, Retention={"Mode": "COMPLIANCE", "RetainUntilDate": in_seconds(7200)})
    assert refused(lambda: s3.put_object_retention(Bucket="vault", Key="governed", VersionId=governed,
                                                   Retention={"Mode": "GOVERNANCE", "RetainUntilDate": in_seconds(60)})) == (403, "AccessDenied")

    # A delete without a version id only hides a locked version behind a marker.
    assert s3.delete_object(Bucket="vault", Key="complied")["DeleteMarker"] is True
    assert read(s3, "vault", "complied", VersionId=complied) == b"c"

    # A read-only key, and any key once the policy denies it, may not bypass.
    reader = client_of(gateway, json.loads(gateway.run("keys", "create", "--name", "auditor", "--read-only", "--json")))
    assert refused(lambda: reader.delete_object(Bucket="vault", Key="governed", VersionId=governed, BypassGovernanceRetention=True)) == (403, "AccessDenied")
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Principal": "*", "Action": "s3:BypassGovernanceRetention",
                                                      "Resource": "arn:aws:s3:::vault/*"}]}
    s3.put_bucket_policy(Bucket="vault", Policy=json.dumps(policy))
    assert refused(lambda: s3.delete_object(Bucket="vault", Key="governed", VersionId=governed, BypassGovernanceRetention=True)) == (403, "AccessDenied")
    s3.delete_bucket_policy(Bucket="vault")
    s3.delete_object(Bucket="vault", Key="governed", VersionId=governed, BypassGovernanceRetention=True)
    assert refused(lambda: s3.head_object(Bucket="vault", Key="governed", VersionId=governed))[0] == 404

    # A legal hold holds whatever the retention; retention that ended no longer holds.
    held = s3.put_object(Bucket="vault", Key="held", Body=b"h", ObjectLockLegalHoldStatus="ON")["VersionId"]
    assert s3.get_object_legal_hold(Bucket="vault", Key="held", VersionId=held)["LegalHold"]["Status"] == "ON"
    assert refused(lambda: s3.delete_object(Bucket="vault", Key="held", VersionId=held, BypassGovernanceRetention=True)) == (403, "AccessDenied")
    s3.put_object_legal_hold(Bucket="vault", Key="held", VersionId=held, LegalHold={"Status": "OFF"})
    s3.delete_object(Bucket="vault", Key="held", VersionId=held)
    brief = s3.put_object(Bucket="vault", Key="brief", Body=b"b", ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=in_seconds(2))["VersionId"]
    assert refused(lambda: s3.delete_object(Bucket="vault", Key="brief", VersionId=brief)) == (403, "AccessDenied")
    time.sleep(3)  # past its retain-until date
    s3.delete_object(Bucket="vault", Key="brief", VersionId=brief)

    # Default retention applies to versions written without lock headers.
    s3.put_object_lock_configuration(Bucket="vault", ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}}})
    assert s3.get_object_lock_configuration(Bucket="vault")["ObjectLockConfiguration"]["Rule"]["DefaultRetention"] == {"Mode": "GOVERNANCE", "Days": 1}
    defaulted = s3.put_object(Bucket="vault", Key="defaulted", Body=b"d")["VersionId"]
    retention = s3.get_object_retention(Bucket="vault", Key="defaulted", VersionId=defaulted)["Retention"]
    assert retention["Mode"] == "GOVERNANCE" and in_seconds(86000) < retention["RetainUntilDate"] < in_seconds(86500)
    assert refused(lambda: s3.delete_object(Bucket="vault", Key="defaulted", VersionId=defaulted)) == (403, "AccessDenied")
    assert refused(lambda: s3.put_object_lock_configuration(Bucket="vault", ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 0}}})) == (400, "InvalidArgument")


def test_locked_versions_outlive_nuage_rm_gc_and_a_drain():
    server = Server()
    try:
        s3 = server.client()
        s3.create_bucket(Bucket="vault", ObjectLockEnabledForBucket=True)
        bodies = {f"o{i}": os.urandom(size) for i, size in enumerate([0, 5000, 300_000, 2 << 20])}
        versions = {key: s3.put_object(Bucket="vault", Key=key, Body=body, ObjectLockMode="COMPLIANCE",
                                       ObjectLockRetainUntilDate=in_seconds(86400))["VersionId"] for key, body in bodies.items()}
        # `nuage rm` deletes as a client without a version id does: a marker, the version stays.
        server.run("rm", "vault/o1")
        assert refused(lambda: s3.get_object(Bucket="vault", Key="o1")) == (404, "NoSuchKey")
        server.run("gc", "--grace", "0", "--delete-delay", "0")
        for key, body in bodies.items():
            assert read(s3, "vault", key, VersionId=versions[key]) == body

        # A drain moves the locked versions' shards off the provider and never drops them.
        server.process.terminate()
        server.process.wait(timeout=30)
        mark_draining(server)
        done = json.loads(server.run("providers", "drain", DRAINED, "--json"))
        assert done["failed"] == [] and done["shards"] > 0 and blob_files(server) == 0, done
        remove_provider(server, DRAINED)
        server.run("gc", "--grace", "0", "--delete-delay", "0")
        server.start()
        s3 = server.client()
        for key, body in bodies.items():
            assert hashlib.sha256(read(s3, "vault", key, VersionId=versions[key])).digest() == hashlib.sha256(body).digest()
            assert refused(lambda: s3.delete_object(Bucket="vault", Key=key, VersionId=versions[key], BypassGovernanceRetention=True)) == (403, "AccessDenied")
        scrub = json.loads(server.run("scrub", "--deep", "--json"))
        assert scrub["damaged"] == [] and scrub["unchecked"] == [] and scrub["versions"] == len(bodies), "every locked version, the hidden one too"
    finally:
        server.stop()

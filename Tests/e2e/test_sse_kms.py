"""SSE-KMS end to end: objects under named KMS keys (nuage kms) through boto3 and the aws CLI,
the bucket default (PutBucketEncryption), copies between SSE-KMS, SSE-C and plain objects in
every direction, AWS's errors; disable, enable, scheduled and immediate destruction seen by a
serving gateway; crypto-shredding in stat, the exposure report and gc; recovery; and no key
name in a log or a provider's bytes."""
import io
import json
import os
import subprocess
import time
import uuid

import botocore.exceptions
import pytest
from boto3.s3.transfer import TransferConfig

from conftest import Server
from test_sse_c import CUSTOMER, KEY, assert_nowhere, refused

MARKER = b"SSE-KMS plaintext marker 41c9 "


def new_key(server, prefix="k"):
    name = f"{prefix}-{uuid.uuid4().hex[:12]}"
    server.run("kms", "create", name)
    return name


def kms(name):
    return {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": name}


def arn(name):
    return f"arn:aws:kms:us-east-1:000000000000:key/{name}"


def eventually(call, expected, seconds=15):
    """Polls `call` until it returns `expected`: a key changed by another process is seen by the
    gateway within its cache lifetime (2 s); no duration is asserted."""
    deadline = time.time() + seconds
    while True:
        got = call()
        if got == expected or time.time() > deadline:
            return got
        time.sleep(0.2)


def outcome(call):
    try:
        call()
        return "ok"
    except botocore.exceptions.ClientError as error:
        return error.response["Error"]["Code"]


def test_objects_under_a_kms_key(server, s3, bucket):
    name = new_key(server)
    body = MARKER * 3000
    put = s3.put_object(Bucket=bucket, Key="o", Body=body, Metadata={"m": "v"}, **kms(name))
    assert put["ServerSideEncryption"] == "aws:kms" and put["SSEKMSKeyId"] == arn(name)
    got = s3.get_object(Bucket=bucket, Key="o")
    assert got["Body"].read() == body and got["SSEKMSKeyId"] == arn(name) and got["ServerSideEncryption"] == "aws:kms"
    head = s3.head_object(Bucket=bucket, Key="o")
    assert head["SSEKMSKeyId"] == arn(name) and head["Metadata"] == {"m": "v"}
    assert s3.get_object(Bucket=bucket, Key="o", Range="bytes=10-19")["Body"].read() == body[10:20]
    # The key by alias and by any ARN that ends in its name.
    for given in (f"alias/{name}", f"arn:aws:kms:eu-west-3:111122223333:key/{name}", f"arn:aws:kms:us-east-1:1:alias/{name}"):
        assert s3.put_object(Bucket=bucket, Key="alias", Body=b"x", **kms(given))["SSEKMSKeyId"] == arn(name)
    # AWS's errors; nothing is stored.
    assert refused(lambda: s3.put_object(Bucket=bucket, Key="bad", Body=b"x", **kms("no-such-key"))) == (400, "KMS.NotFoundException")
    assert refused(lambda: s3.put_object(Bucket=bucket, Key="bad", Body=b"x", **kms("arn:aws:s3:::nope"))) == (400, "KMS.NotFoundException")
    assert refused(lambda: s3.put_object(Bucket=bucket, Key="bad", Body=b"x", ServerSideEncryption="aws:kms")) == (400, "InvalidArgument")
    assert refused(lambda: s3.put_object(Bucket=bucket, Key="bad", Body=b"x", ServerSideEncryption="AES256",
                                         SSEKMSKeyId=name)) == (400, "InvalidArgument")
    assert refused(lambda: s3.put_object(Bucket=bucket, Key="bad", Body=b"x", **kms(name), **CUSTOMER)) == (400, "InvalidArgument")
    assert "bad" not in {o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]}
    # Multipart: every part under the key the upload was created with.
    big = os.urandom(11 << 20)
    s3.upload_fileobj(io.BytesIO(big), bucket, "multi", ExtraArgs=kms(name),
                      Config=TransferConfig(multipart_threshold=5 << 20, multipart_chunksize=5 << 20))
    head = s3.head_object(Bucket=bucket, Key="multi")
    assert head["SSEKMSKeyId"] == arn(name) and head["ContentLength"] == len(big)
    assert s3.get_object(Bucket=bucket, Key="multi")["Body"].read() == big


def test_copies_between_kms_sse_c_and_plain(server, s3, bucket):
    one, two = new_key(server), new_key(server)
    s3.put_object(Bucket=bucket, Key="plain", Body=b"plain body")
    s3.put_object(Bucket=bucket, Key="k1", Body=b"kms body", **kms(one))
    s3.put_object(Bucket=bucket, Key="c", Body=b"customer body", **CUSTOMER)
    source_key = {"CopySourceSSECustomerAlgorithm": "AES256", "CopySourceSSECustomerKey": KEY.decode()}
    src = lambda key: {"Bucket": bucket, "Key": key}
    cases = [("plain", {}, kms(one), b"plain body"), ("k1", {}, {}, b"kms body"), ("k1", {}, kms(two), b"kms body"),
             ("k1", {}, CUSTOMER, b"kms body"), ("c", source_key, kms(two), b"customer body")]
    for index, (source, source_args, target, body) in enumerate(cases):
        copied = s3.copy_object(Bucket=bucket, Key=f"t{index}", CopySource=src(source), **source_args, **target)
        assert copied.get("SSEKMSKeyId") == (arn(target["SSEKMSKeyId"]) if "SSEKMSKeyId" in target else None), (index, copied)
        got = s3.get_object(Bucket=bucket, Key=f"t{index}", **(CUSTOMER if target is CUSTOMER else {}))
        assert got["Body"].read() == body, index
        assert target is CUSTOMER or got["ServerSideEncryption"] == ("aws:kms" if "SSEKMSKeyId" in target else "AES256"), (index, got)
    # In place, to another key (a key rotation for one object).
    s3.copy_object(Bucket=bucket, Key="k1", CopySource=src("k1"), **kms(two))
    assert s3.head_object(Bucket=bucket, Key="k1")["SSEKMSKeyId"] == arn(two)


def test_bucket_default_encryption(server, s3, bucket):
    name = new_key(server)
    default = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert default["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    rule = {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": name}, "BucketKeyEnabled": True}
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [rule]})
    got = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert got["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": arn(name)} and got["BucketKeyEnabled"]
    # Writes that name nothing get the default; AES256 or SSE-C asked for explicitly keep their choice.
    assert s3.put_object(Bucket=bucket, Key="d", Body=b"d")["SSEKMSKeyId"] == arn(name)
    assert s3.put_object(Bucket=bucket, Key="a", Body=b"a", ServerSideEncryption="AES256").get("SSEKMSKeyId") is None
    assert s3.put_object(Bucket=bucket, Key="c", Body=b"c", **CUSTOMER).get("SSEKMSKeyId") is None
    assert s3.put_object(Bucket=bucket, Key="k", Body=b"k", ServerSideEncryption="aws:kms")["SSEKMSKeyId"] == arn(name)
    upload = s3.create_multipart_upload(Bucket=bucket, Key="m")
    assert upload["SSEKMSKeyId"] == arn(name)
    s3.abort_multipart_upload(Bucket=bucket, Key="m", UploadId=upload["UploadId"])
    assert s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "a"})["SSEKMSKeyId"] == arn(name)
    # A default naming an unknown key, or with no key, is refused and changes nothing.
    bad = {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": "missing-key"}}
    assert refused(lambda: s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [bad]})) == (400, "KMS.NotFoundException")
    assert refused(lambda: s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}}]})) == (400, "InvalidArgument")
    assert s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0] == got
    s3.delete_bucket_encryption(Bucket=bucket)
    assert s3.put_object(Bucket=bucket, Key="after", Body=b"x")["ServerSideEncryption"] == "AES256"


def test_aws_cli(server, s3, bucket, tmp_path):
    name = new_key(server)
    path = tmp_path / "file"
    path.write_bytes(MARKER * 100)
    aws = lambda *args: subprocess.run(["aws", "--endpoint-url", server.endpoint, *args], env=server.env(),
                                       capture_output=True, text=True, timeout=120)
    copied = aws("s3", "cp", str(path), f"s3://{bucket}/cli", "--sse", "aws:kms", "--sse-kms-key-id", name)
    assert copied.returncode == 0, copied.stderr
    head = json.loads(aws("s3api", "head-object", "--bucket", bucket, "--key", "cli").stdout)
    assert head["ServerSideEncryption"] == "aws:kms" and head["SSEKMSKeyId"] == arn(name)
    back = aws("s3", "cp", f"s3://{bucket}/cli", str(tmp_path / "back"))
    assert back.returncode == 0 and (tmp_path / "back").read_bytes() == MARKER * 100, back.stderr


def test_disable_enable_destroy_and_crypto_shredding(tmp_path):
    server = Server()
    try:
        s3 = server.client()
        s3.create_bucket(Bucket="vault")
        name, kept = "payroll-2026", "kept-key"
        server.run("kms", "create", name)
        server.run("kms", "create", kept)
        bodies = {f"o{i}": MARKER * (i * 5000 + 1) for i in range(4)}
        for key, body in bodies.items():
            s3.put_object(Bucket="vault", Key=key, Body=body, **kms(name))
        s3.put_object(Bucket="vault", Key="other", Body=b"kept body", **kms(kept))
        get = lambda: outcome(lambda: s3.get_object(Bucket="vault", Key="o1")["Body"].read())
        put = lambda: outcome(lambda: s3.put_object(Bucket="vault", Key="new", Body=b"x", **kms(name)))
        # Disabled through the CLI while the gateway serves: reads and writes refused; enabled: back.
        server.run("kms", "disable", name)
        assert eventually(get, "KMS.DisabledException") == "KMS.DisabledException"
        assert put() == "KMS.DisabledException"
        assert s3.head_object(Bucket="vault", Key="o1")["SSEKMSKeyId"] == arn(name), "HEAD reads only the catalog"
        server.run("kms", "enable", name)
        assert eventually(get, "ok") == "ok"
        # Scheduled destruction: refused at once; cancelled, the key is disabled until enabled.
        server.run("kms", "destroy", name, "--days", "7")
        assert eventually(get, "KMS.KMSInvalidStateException") == "KMS.KMSInvalidStateException"
        states = {k["name"]: k for k in json.loads(server.run("kms", "ls", "--json"))}
        assert states[name]["state"] == "PendingDeletion" and states[name]["deletionDate"], states
        server.run("kms", "cancel-destroy", name)
        assert eventually(get, "KMS.DisabledException") == "KMS.DisabledException"
        server.run("kms", "enable", name)
        assert eventually(get, "ok") == "ok"
        # --now needs a confirmation: without a terminal and without --yes, nothing is destroyed.
        refusal = subprocess.run([server.binary, "kms", "destroy", name, "--now", "--data", server.data],
                                 capture_output=True, text=True, stdin=subprocess.DEVNULL)
        assert refusal.returncode != 0 and "--yes" in refusal.stderr
        assert get() == "ok"
        # Destroyed now: unreadable for good, and the gateway says so.
        server.run("kms", "destroy", name, "--now", "--yes")
        assert eventually(get, "KMS.KMSInvalidStateException") == "KMS.KMSInvalidStateException"
        assert put() == "KMS.NotFoundException"
        assert s3.get_object(Bucket="vault", Key="other")["Body"].read() == b"kept body"
        assert "crypto-shredded" in server.run("stat", "vault/o1")
        report = json.loads(server.run("report", "exposure", "--json"))
        assert report["shreddedObjects"] == 4 and report["destroyedKMSKeys"] == [name], report
        assert "crypto-shredded: 4 object(s)" in server.run("report", "exposure")
        audit = server.run("audit", "show")
        for action in ("kms.create", "kms.disable", "kms.enable", "kms.schedule-destroy", "kms.cancel-destroy", "kms.destroy"):
            assert action in audit, action
        # Recovery from the providers: the key comes back destroyed, the objects unreadable.
        logs = []
        server.process.terminate()
        server.process.wait(timeout=30)
        logs.append(open(os.path.join(server.dir, "serve.log")).read())
        server.lose_catalog()
        recovered = json.loads(server.run("recover", "--json"))
        assert recovered["problems"] == [], recovered
        server.start()
        s3 = server.client()
        assert outcome(lambda: s3.get_object(Bucket="vault", Key="o2")) == "KMS.KMSInvalidStateException"
        assert s3.get_object(Bucket="vault", Key="other")["Body"].read() == b"kept body"
        server.process.terminate()
        server.process.wait(timeout=30)
        logs.append(open(os.path.join(server.dir, "serve.log")).read())
        # gc removes the shredded objects and their shards.
        gc = server.run("gc", "--delete-delay", "0")
        assert "crypto-shredded objects removed 4" in gc, gc
        server.start()
        s3 = server.client()
        assert sorted(o["Key"] for o in s3.list_objects_v2(Bucket="vault")["Contents"]) == ["other"]
        # The key's name is in no log and in no provider's bytes (the catalog names it, for nuage kms ls).
        server.log.flush()
        logs.append(open(os.path.join(server.dir, "serve.log")).read())
        assert_nowhere([name.encode(), kept.encode(), MARKER], os.path.join(server.data, "providers"))
        assert all(name not in log and kept not in log for log in logs) and len(logs) == 3
    finally:
        server.stop()

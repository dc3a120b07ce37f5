"""Bucket policies with boto3 and minio-py: the documented subset evaluated with key scopes (an
explicit Deny wins over every key, the owner's included), conditions, anything outside the subset
refused with MalformedPolicy, public policies and anonymous requests only with
`[server] allow-public-buckets`, persistence across a restart, never in provider bytes."""
import io
import json
import os
import subprocess
import urllib.error
import urllib.request

import boto3
import minio
import minio.error
from minio.commonconfig import Tags
import pytest
from botocore.config import Config

from conftest import Server
from test_sse_c import assert_nowhere, refused

MARKER = "policysidmarker9d2"
USER = "arn:aws:iam::000000000000:user/"


def statement(effect, action, resource, principal="*", **extra):
    return dict({"Effect": effect, "Principal": principal, "Action": action, "Resource": resource}, **extra)


def put_policy(s3, bucket, *statements):
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": list(statements)}))


def key_client(server, *args):
    created = json.loads(server.run("keys", "create", "--name", "other", "--json", *args))
    return boto3.client("s3", endpoint_url=server.endpoint, aws_access_key_id=created["access_key"],
                        aws_secret_access_key=created["secret_key"], region_name="us-east-1",
                        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1})), created["access_key"]


def anonymous(server, method, path, body=None):
    request = urllib.request.Request(server.endpoint + path, method=method, data=body)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_deny_stops_every_key_and_the_owner_keeps_the_policy_in_hand(server, s3, bucket):
    assert refused(lambda: s3.get_bucket_policy(Bucket=bucket)) == (404, "NoSuchBucketPolicy")
    assert refused(lambda: s3.get_bucket_policy_status(Bucket=bucket)) == (404, "NoSuchBucketPolicy")
    s3.delete_bucket_policy(Bucket=bucket)
    for key in ("a", "b", "keep"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    other, _ = key_client(server)
    put_policy(s3, bucket, statement("Deny", "s3:DeleteObject", f"arn:aws:s3:::{bucket}/*", Sid=MARKER))
    assert json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])["Statement"][0]["Sid"] == MARKER
    assert s3.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"]["IsPublic"] is False
    for client in (s3, other):
        assert refused(lambda: client.delete_object(Bucket=bucket, Key="a")) == (403, "AccessDenied")
        errors = client.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "a"}, {"Key": "b"}]})["Errors"]
        assert sorted((e["Key"], e["Code"]) for e in errors) == [("a", "AccessDenied"), ("b", "AccessDenied")]
        # Everything else goes on as the key's scope allows.
        assert client.get_object(Bucket=bucket, Key="a")["Body"].read() == b"x"
    assert sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]) == ["a", "b", "keep"]
    # A deny of everything cannot lock the bucket: the policy stays the owner's to change.
    put_policy(s3, bucket, statement("Deny", "s3:*", [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]))
    assert refused(lambda: s3.get_object(Bucket=bucket, Key="keep")) == (403, "AccessDenied")
    assert refused(lambda: s3.list_objects_v2(Bucket=bucket)) == (403, "AccessDenied")
    assert "s3:*" in s3.get_bucket_policy(Bucket=bucket)["Policy"]
    s3.delete_bucket_policy(Bucket=bucket)
    s3.delete_object(Bucket=bucket, Key="a")
    assert refused(lambda: s3.get_bucket_policy(Bucket=bucket)) == (404, "NoSuchBucketPolicy")


def test_outside_the_subset_is_refused(server, s3, bucket):
    resource = f"arn:aws:s3:::{bucket}/*"

    def malformed(document):
        text = document if isinstance(document, str) else json.dumps(document)
        return refused(lambda: s3.put_bucket_policy(Bucket=bucket, Policy=text))

    def policy(*statements):
        return {"Version": "2012-10-17", "Statement": list(statements)}

    bad = [
        "not json",
        policy(statement("Deny", "s3:GetObject", resource, Condition={"StringEquals": {"aws:UserAgent": "curl"}})),
        policy(statement("Deny", "s3:GetObject", resource, Condition={"DateGreaterThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}})),
        policy(statement("Deny", "s3:GetObject", resource, Condition={"IpAddress": {"aws:SourceIp": "not-an-ip"}})),
        policy(statement("Deny", "s3:GetObject", resource, Condition={"Bool": {"s3:prefix": "true"}})),
        policy(dict(statement("Deny", "s3:GetObject", resource), NotAction="s3:PutObject")),
        policy({"Effect": "Deny", "NotPrincipal": {"AWS": "*"}, "Action": "s3:GetObject", "Resource": resource}),
        policy(statement("Deny", "s3:Fly", resource)),
        policy(statement("Deny", "s3:GetObject", "arn:aws:s3:::another-bucket/*")),
        policy(statement("Allow", "s3:GetObject", resource, principal={"AWS": USER + "NUNOSUCHKEY234567ABC"})),
        policy(statement("Allow", "s3:GetObject", resource, principal={"Service": "cloudfront.amazonaws.com"})),
        policy(statement("Maybe", "s3:GetObject", resource)),
        {"Version": "2012-10-17"},
        {"Version": "2099-01-01", "Statement": [statement("Deny", "s3:GetObject", resource)]},
    ]
    for document in bad:
        assert malformed(document) == (400, "MalformedPolicy"), document
    # Public policies are refused while public buckets are off (the default).
    assert malformed(policy(statement("Allow", "s3:GetObject", resource))) == (403, "AccessDenied")
    assert refused(lambda: s3.get_bucket_policy(Bucket=bucket)) == (404, "NoSuchBucketPolicy"), "nothing refused was stored"
    status, body = anonymous(server, "GET", f"/{bucket}/k")
    assert status == 403 and b"AccessDenied" in body


def test_conditions(server, s3, bucket):
    tagged = "arn:aws:s3:::%s/*" % bucket
    s3.put_object(Bucket=bucket, Key="home/a", Body=b"a")
    s3.put_object(Bucket=bucket, Key="secret", Body=b"s", Tagging="class=secret")
    s3.put_object(Bucket=bucket, Key="plain", Body=b"p", Tagging="class=public")
    put_policy(s3, bucket,
               statement("Deny", "s3:GetObject", tagged, Condition={"StringEquals": {"s3:ExistingObjectTag/class": "secret"}}),
               statement("Deny", "s3:ListBucket", f"arn:aws:s3:::{bucket}", Condition={"StringNotLike": {"s3:prefix": "home/*"}}),
               statement("Deny", "s3:PutObject", tagged, Condition={"StringNotEquals": {"s3:x-amz-server-side-encryption": "AES256"}}),
               statement("Deny", "s3:DeleteObject", tagged, Condition={"IpAddress": {"aws:SourceIp": ["127.0.0.0/8", "::1/128"]}}),
               statement("Deny", "s3:GetObjectTagging", tagged, Condition={"NotIpAddress": {"aws:SourceIp": "127.0.0.0/8"}}))
    assert refused(lambda: s3.get_object(Bucket=bucket, Key="secret")) == (403, "AccessDenied")
    assert s3.get_object(Bucket=bucket, Key="plain")["Body"].read() == b"p"
    assert refused(lambda: s3.list_objects_v2(Bucket=bucket)) == (403, "AccessDenied")
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="home/")["Contents"]] == ["home/a"]
    assert refused(lambda: s3.put_object(Bucket=bucket, Key="n", Body=b"n")) == (403, "AccessDenied")
    s3.put_object(Bucket=bucket, Key="n", Body=b"n", ServerSideEncryption="AES256")
    assert refused(lambda: s3.delete_object(Bucket=bucket, Key="n")) == (403, "AccessDenied")
    assert s3.get_object_tagging(Bucket=bucket, Key="plain")["TagSet"] == [{"Key": "class", "Value": "public"}]
    # Over TLS only: every plain-HTTP request is refused, but the policy can still be removed.
    put_policy(s3, bucket, statement("Deny", "s3:*", [f"arn:aws:s3:::{bucket}", tagged], Condition={"Bool": {"aws:SecureTransport": False}}))
    assert refused(lambda: s3.head_object(Bucket=bucket, Key="plain"))[0] == 403
    s3.delete_bucket_policy(Bucket=bucket)


def test_allow_grants_beyond_a_keys_scope(server, s3, bucket):
    reader, reader_id = key_client(server, "--read-only")
    scoped, scoped_id = key_client(server, "--bucket", "somewhere-else")
    assert refused(lambda: reader.put_object(Bucket=bucket, Key="drop/x", Body=b"r")) == (403, "AccessDenied")
    assert refused(lambda: scoped.get_object(Bucket=bucket, Key="drop/x")) == (403, "AccessDenied")
    put_policy(s3, bucket, statement("Allow", "s3:PutObject", f"arn:aws:s3:::{bucket}/drop/*", principal={"AWS": [USER + reader_id]}),
               statement("Allow", ["s3:GetObject", "s3:ListBucket"], [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
                         principal={"AWS": scoped_id}))
    reader.put_object(Bucket=bucket, Key="drop/x", Body=b"r")
    assert refused(lambda: reader.put_object(Bucket=bucket, Key="elsewhere", Body=b"r")) == (403, "AccessDenied")
    assert scoped.get_object(Bucket=bucket, Key="drop/x")["Body"].read() == b"r"
    assert [o["Key"] for o in scoped.list_objects_v2(Bucket=bucket)["Contents"]] == ["drop/x"]
    assert refused(lambda: scoped.delete_object(Bucket=bucket, Key="drop/x")) == (403, "AccessDenied")


def test_public_buckets_restart_and_provider_bytes():
    server = Server()
    try:
        s3 = server.client()
        s3.create_bucket(Bucket="site")
        s3.put_object(Bucket="site", Key="public/index.html", Body=b"<h1>hello</h1>")
        s3.put_object(Bucket="site", Key="private/notes", Body=b"mine")
        public = statement("Allow", "s3:GetObject", "arn:aws:s3:::site/public/*", Sid=MARKER)
        assert refused(lambda: put_policy(s3, "site", public)) == (403, "AccessDenied")
        server.reconfigure("allow-public-buckets = false", "allow-public-buckets = true")
        s3 = server.client()
        put_policy(s3, "site", public)
        assert s3.get_bucket_policy_status(Bucket="site")["PolicyStatus"]["IsPublic"] is True
        assert anonymous(server, "GET", "/site/public/index.html") == (200, b"<h1>hello</h1>")
        assert anonymous(server, "GET", "/site/private/notes")[0] == 403
        assert anonymous(server, "PUT", "/site/public/new", body=b"no")[0] == 403
        assert anonymous(server, "GET", "/site")[0] == 403
        assert anonymous(server, "GET", "/")[0] == 403
        # minio-py reads the policy back, and anonymous clients see what it allows.
        client = minio.Minio(server.endpoint.removeprefix("http://"), access_key=server.access_key, secret_key=server.secret_key, secure=False)
        assert json.loads(client.get_bucket_policy("site"))["Statement"][0]["Sid"] == MARKER
        guest = minio.Minio(server.endpoint.removeprefix("http://"), secure=False)
        assert guest.get_object("site", "public/index.html").read() == b"<h1>hello</h1>"
        with pytest.raises(minio.error.S3Error) as denied:
            guest.get_object("site", "private/notes")
        assert denied.value.code == "AccessDenied"
        # Kept across a restart; turned off, public access stops even though the policy stays.
        server.process.terminate()
        server.process.wait(timeout=30)
        assert_nowhere([MARKER.encode()], os.path.join(server.data, "providers"))
        server.start()
        server.reconfigure("allow-public-buckets = true", "allow-public-buckets = false")
        s3 = server.client()
        assert MARKER in s3.get_bucket_policy(Bucket="site")["Policy"]
        assert anonymous(server, "GET", "/site/public/index.html")[0] == 403
        assert "s3:PutBucketPolicy" in server.run("audit", "show")
    finally:
        server.stop()


def test_minio_py_policy_and_tags(server, bucket):
    client = minio.Minio(server.endpoint.removeprefix("http://"), access_key=server.access_key, secret_key=server.secret_key, secure=False)
    with pytest.raises(minio.error.S3Error) as missing:
        client.get_bucket_policy(bucket)
    assert missing.value.code == "NoSuchBucketPolicy"
    document = {"Version": "2012-10-17", "Statement": [statement("Deny", "s3:DeleteObject", f"arn:aws:s3:::{bucket}/*")]}
    client.set_bucket_policy(bucket, json.dumps(document))
    assert json.loads(client.get_bucket_policy(bucket)) == document
    client.delete_bucket_policy(bucket)
    # The aws CLI too: its MalformedPolicy, then a policy set and read back.
    aws = ["aws", "--endpoint-url", server.endpoint, "s3api"]
    bad = subprocess.run(aws + ["put-bucket-policy", "--bucket", bucket, "--policy", '{"Statement": []}'], env=server.env(),
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "MalformedPolicy" in bad.stderr, bad.stderr
    subprocess.run(aws + ["put-bucket-policy", "--bucket", bucket, "--policy", json.dumps(document)], env=server.env(), check=True, timeout=60)
    got = subprocess.run(aws + ["get-bucket-policy", "--bucket", bucket], env=server.env(), capture_output=True, text=True, check=True, timeout=60)
    assert json.loads(json.loads(got.stdout)["Policy"]) == document
    client.delete_bucket_policy(bucket)
    client.put_object(bucket, "t", io.BytesIO(b"tagged"), 6)
    tags = Tags.new_object_tags()
    tags["project"] = "nuage"
    client.set_object_tags(bucket, "t", tags)
    assert dict(client.get_object_tags(bucket, "t")) == {"project": "nuage"}

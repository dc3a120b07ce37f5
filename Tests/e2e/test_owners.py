"""Owners with boto3 and the aws CLI: keys act for an owner (`nuage keys create --owner`),
buckets belong to the owner whose key created them, ListBuckets shows the caller's owner's
buckets with pagination, CreateBucket answers BucketAlreadyOwnedByYou or BucketAlreadyExists,
another owner's bucket and objects are 403 (copies out of it too) until its policy grants them,
and all of it survives a restart."""
import json
import subprocess

import boto3
import pytest
from botocore.config import Config

from conftest import Server
from test_sse_c import refused


def client_of(server, key):
    return boto3.client("s3", endpoint_url=server.endpoint, aws_access_key_id=key["access_key"], aws_secret_access_key=key["secret_key"],
                        region_name="us-east-1", config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))


def owner_client(server, owner, *args):
    created = json.loads(server.run("keys", "create", "--name", owner, "--owner", owner, "--json", *args))
    return client_of(server, created), created


def as_key(server, key):
    return dict(server.env(), AWS_ACCESS_KEY_ID=key["access_key"], AWS_SECRET_ACCESS_KEY=key["secret_key"])


def names(client, **params):
    return [b["Name"] for b in client.list_buckets(**params)["Buckets"]]


@pytest.fixture(scope="module")
def gateway():
    server = Server()
    yield server
    server.stop()


def test_each_owner_sees_and_reaches_its_own(gateway):
    alice, alice_key = owner_client(gateway, "alice")
    bob, bob_key = owner_client(gateway, "bob")
    for name in ("alice-a", "alice-b", "alice-c", "shared-x"):
        alice.create_bucket(Bucket=name)
    bob.create_bucket(Bucket="bob-a")
    alice.put_object(Bucket="alice-a", Key="private", Body=b"alice's")

    assert names(alice) == ["alice-a", "alice-b", "alice-c", "shared-x"]
    assert names(bob) == ["bob-a"]
    listed = alice.list_buckets()
    assert listed["Owner"] == {"ID": "alice", "DisplayName": "alice"}
    assert refused(lambda: alice.create_bucket(Bucket="alice-a")) == (409, "BucketAlreadyOwnedByYou")
    assert refused(lambda: bob.create_bucket(Bucket="alice-a")) == (409, "BucketAlreadyExists")

    # Another owner's bucket: nothing, not even a copy out of it.
    for call in (lambda: bob.get_object(Bucket="alice-a", Key="private"),
                 lambda: bob.list_objects_v2(Bucket="alice-a"),
                 lambda: bob.put_object(Bucket="alice-a", Key="x", Body=b"x"),
                 lambda: bob.delete_object(Bucket="alice-a", Key="private"),
                 lambda: bob.delete_bucket(Bucket="alice-a"),
                 lambda: bob.get_bucket_policy(Bucket="alice-a"),
                 lambda: bob.copy_object(Bucket="bob-a", Key="stolen", CopySource={"Bucket": "alice-a", "Key": "private"})):
        assert refused(call) == (403, "AccessDenied")
    assert alice.get_bucket_acl(Bucket="alice-a")["Owner"]["ID"] == "alice"

    # Until alice's policy grants bob (every key of his) reads under a prefix.
    alice.put_object(Bucket="alice-a", Key="shared/report", Body=b"for bob")
    alice.put_bucket_policy(Bucket="alice-a", Policy=json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::bob:root"}, "Action": "s3:GetObject",
        "Resource": "arn:aws:s3:::alice-a/shared/*"}]}))
    assert bob.get_object(Bucket="alice-a", Key="shared/report")["Body"].read() == b"for bob"
    bob.copy_object(Bucket="bob-a", Key="copied", CopySource={"Bucket": "alice-a", "Key": "shared/report"})
    assert refused(lambda: bob.get_object(Bucket="alice-a", Key="private")) == (403, "AccessDenied")
    assert "alice-a" not in names(bob), "a grant does not make the bucket bob's"

    # The default owner's keys (the operator's) see only the default owner's buckets.
    operator = gateway.client()
    assert not {"alice-a", "bob-a"} & set(names(operator))
    assert refused(lambda: operator.get_object(Bucket="alice-a", Key="private")) == (403, "AccessDenied")
    # The admin routes (reports over every owner's buckets) are the default owner's.
    assert json.loads(operator.get_object(Bucket="_nuage", Key="exposure")["Body"].read())
    assert refused(lambda: bob.get_object(Bucket="_nuage", Key="exposure")) == (403, "AccessDenied")

    # Pagination: max-buckets, continuation tokens, prefix, with boto3 and the aws CLI.
    page = alice.list_buckets(MaxBuckets=2)
    assert [b["Name"] for b in page["Buckets"]] == ["alice-a", "alice-b"] and page["ContinuationToken"]
    rest = alice.list_buckets(MaxBuckets=2, ContinuationToken=page["ContinuationToken"])
    assert [b["Name"] for b in rest["Buckets"]] == ["alice-c", "shared-x"] and "ContinuationToken" not in rest
    assert names(alice, Prefix="shared") == ["shared-x"]
    cli = subprocess.run(["aws", "--endpoint-url", gateway.endpoint, "s3api", "list-buckets", "--prefix", "alice-", "--max-items", "10"],
                         capture_output=True, text=True, timeout=60, env=as_key(gateway, alice_key))
    assert cli.returncode == 0 and [b["Name"] for b in json.loads(cli.stdout)["Buckets"]] == ["alice-a", "alice-b", "alice-c"], cli.stderr

    keys = gateway.run("keys", "ls")
    assert "owner alice" in keys and "owner bob" in keys

    # Kept across a restart.
    gateway.process.terminate()
    gateway.process.wait(timeout=30)
    gateway.start()
    assert "alice-a" in gateway.run("bucket", "ls") and "owner alice" in gateway.run("bucket", "ls")
    assert names(client_of(gateway, alice_key)) == ["alice-a", "alice-b", "alice-c", "shared-x"]


def test_kms_keys_serve_their_owners_buckets(gateway):
    """A KMS key is its owner's: another owner's bucket cannot name it (its destruction must
    never shred another owner's objects)."""
    carol, _ = owner_client(gateway, "carol")
    dave, _ = owner_client(gateway, "dave")
    gateway.run("kms", "create", "carol-key", "--owner", "carol")
    assert "carol" in gateway.run("kms", "ls")
    carol.create_bucket(Bucket="carol-kms")
    dave.create_bucket(Bucket="dave-kms")
    carol.put_object(Bucket="carol-kms", Key="k", Body=b"c", ServerSideEncryption="aws:kms", SSEKMSKeyId="carol-key")
    assert carol.head_object(Bucket="carol-kms", Key="k")["SSEKMSKeyId"].endswith("key/carol-key")
    assert refused(lambda: dave.put_object(Bucket="dave-kms", Key="k", Body=b"d", ServerSideEncryption="aws:kms",
                                           SSEKMSKeyId="carol-key")) == (400, "KMS.NotFoundException")
    assert refused(lambda: dave.put_bucket_encryption(Bucket="dave-kms", ServerSideEncryptionConfiguration={"Rules": [
        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": "carol-key"}}]})) == (400, "KMS.NotFoundException")


def test_owner_names_are_checked(gateway):
    bad = subprocess.run([gateway.binary, "keys", "create", "--owner", "Not Valid", "--data", gateway.data], capture_output=True, text=True)
    assert bad.returncode != 0 and "owner" in bad.stderr

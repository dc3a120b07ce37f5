"""The aws command line against a real `nuage serve`."""
import json
import os
import subprocess

import pytest


def aws(server, *args, check=True):
    result = subprocess.run(["aws", "--endpoint-url", server.endpoint, *args], capture_output=True, text=True,
                            env=server.env(), timeout=300)
    if check and result.returncode != 0:
        raise AssertionError(f"aws {' '.join(args)} failed ({result.returncode}): {result.stderr}")
    return result


def test_s3_commands(server, tmp_path):
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    files = {"a.txt": b"alpha\n", "sub/b.bin": os.urandom(300_000), "sub/c.txt": b"gamma"}
    for name, data in files.items():
        (src / name).write_bytes(data)
    aws(server, "s3", "mb", "s3://cli-bucket")
    assert "cli-bucket" in aws(server, "s3", "ls").stdout
    aws(server, "s3", "cp", str(src / "a.txt"), "s3://cli-bucket/a.txt")
    aws(server, "s3", "sync", str(src), "s3://cli-bucket/synced")
    listing = aws(server, "s3", "ls", "--recursive", "s3://cli-bucket").stdout
    for name in files:
        assert f"synced/{name}" in listing
    out = tmp_path / "out"
    aws(server, "s3", "sync", "s3://cli-bucket/synced", str(out))
    for name, data in files.items():
        assert (out / name).read_bytes() == data
    aws(server, "s3", "cp", "s3://cli-bucket/a.txt", str(tmp_path / "a.copy"))
    assert (tmp_path / "a.copy").read_bytes() == b"alpha\n"
    url = aws(server, "s3", "presign", "s3://cli-bucket/a.txt", "--expires-in", "60").stdout.strip()
    import urllib.request
    assert urllib.request.urlopen(url).read() == b"alpha\n"
    aws(server, "s3", "rm", "--recursive", "s3://cli-bucket/synced")
    assert "synced" not in aws(server, "s3", "ls", "--recursive", "s3://cli-bucket").stdout


def test_s3api_commands(server, tmp_path):
    aws(server, "s3api", "create-bucket", "--bucket", "api-bucket")
    body = tmp_path / "body"
    body.write_bytes(bytes(range(256)) * 100)
    aws(server, "s3api", "put-object", "--bucket", "api-bucket", "--key", "k", "--body", str(body))
    head = json.loads(aws(server, "s3api", "head-object", "--bucket", "api-bucket", "--key", "k").stdout)
    assert head["ContentLength"] == 25600
    aws(server, "s3api", "get-object", "--bucket", "api-bucket", "--key", "k", "--range", "bytes=10-19", str(tmp_path / "part"))
    assert (tmp_path / "part").read_bytes() == bytes(range(10, 20))
    aws(server, "s3api", "copy-object", "--bucket", "api-bucket", "--key", "k2", "--copy-source", "api-bucket/k")
    deleted = json.loads(aws(server, "s3api", "delete-objects", "--bucket", "api-bucket", "--delete",
                             '{"Objects":[{"Key":"k"},{"Key":"k2"}]}').stdout)
    assert sorted(d["Key"] for d in deleted["Deleted"]) == ["k", "k2"]
    aws(server, "s3api", "delete-bucket", "--bucket", "api-bucket")
    missing = aws(server, "s3api", "head-bucket", "--bucket", "api-bucket", check=False)
    assert missing.returncode != 0

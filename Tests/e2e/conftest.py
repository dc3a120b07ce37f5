"""Starts a real `nuage serve` on a free loopback port for the end-to-end tests."""
import json
import os
import re
import shutil
import subprocess
import tempfile
import time

import boto3
import pytest
from botocore.config import Config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def nuage_binary():
    for candidate in (os.environ.get("NUAGE_BINARY"), os.path.join(ROOT, ".build/debug/nuage")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    pytest.fail("the nuage binary is missing: run `swift build` first (or set NUAGE_BINARY)")


class Server:
    def __init__(self, *serve_args):
        self.dir = tempfile.mkdtemp(prefix="nuage-e2e-")
        self.data = os.path.join(self.dir, "data")
        self.binary = nuage_binary()
        self.serve_args = serve_args
        self.run("init")
        keys = json.loads(self.run("keys", "create", "--name", "e2e", "--json"))
        self.access_key, self.secret_key = keys["access_key"], keys["secret_key"]
        self.log = open(os.path.join(self.dir, "serve.log"), "w+")
        self.start()

    def start(self):
        """Starts (or restarts) `nuage serve` over the same data directory."""
        self.log.seek(0)
        self.log.truncate()
        self.process = subprocess.Popen([self.binary, "serve", "--data", self.data, "--listen", "127.0.0.1:0", *self.serve_args],
                                        stdout=self.log, stderr=subprocess.STDOUT)
        self.endpoint = self.wait_for_port()

    def run(self, *args, check=True):
        result = subprocess.run([self.binary, *args, "--data", self.data], capture_output=True, text=True, timeout=120)
        if check and result.returncode != 0:
            raise AssertionError(f"nuage {' '.join(args)} failed: {result.stderr}")
        return result.stdout

    def wait_for_port(self):
        deadline = time.time() + 30
        while time.time() < deadline:
            self.log.seek(0)
            match = re.search(r"serving S3 on (http://127\.0\.0\.1:\d+)", self.log.read())
            if match:
                return match.group(1)
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        self.log.seek(0)
        pytest.fail(f"nuage serve did not start: {self.log.read()}")

    def env(self):
        env = dict(os.environ)
        env.update(AWS_ACCESS_KEY_ID=self.access_key, AWS_SECRET_ACCESS_KEY=self.secret_key,
                   AWS_DEFAULT_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true")
        env.pop("AWS_PROFILE", None)
        return env

    def client(self, secret=None, **config):
        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=self.access_key,
                            aws_secret_access_key=secret or self.secret_key, region_name="us-east-1",
                            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}, **config))

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        finally:
            self.log.close()
            shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def server():
    s = Server()
    yield s
    assert s.process.poll() is None, "the server died during the tests"
    s.stop()


@pytest.fixture
def s3(server):
    return server.client()


@pytest.fixture
def bucket(s3, request):
    name = "b-" + re.sub(r"[^a-z0-9-]", "-", request.node.name.lower())[:40].strip("-")
    s3.create_bucket(Bucket=name)
    yield name
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
        keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        if keys:
            s3.delete_objects(Bucket=name, Delete={"Objects": keys, "Quiet": True})
    s3.delete_bucket(Bucket=name)

"""Starts a real `nuage serve` on a free loopback port for the end-to-end tests."""
import json
import os
import re
import shutil
import socket
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


SOFTHSM_MODULE = "/usr/lib/softhsm/libsofthsm2.so"
HSM_TOKEN, HSM_PIN_ENV = "nuage-e2e", "NUAGE_E2E_HSM_PIN"
_hsm_directory = None


def softhsm_token():
    """A throwaway SoftHSM2 token for this test session: its own configuration and token
    directory, which every nuage process started from here inherits (SOFTHSM2_CONF)."""
    global _hsm_directory
    if _hsm_directory is None:
        if not os.path.exists(SOFTHSM_MODULE) or not shutil.which("softhsm2-util"):
            pytest.fail("SoftHSM2 is missing: ./scripts/test installs Debian's softhsm2")
        directory = tempfile.mkdtemp(prefix="nuage-softhsm-")
        os.makedirs(os.path.join(directory, "tokens"))
        conf = os.path.join(directory, "softhsm2.conf")
        with open(conf, "w") as f:
            f.write(f"directories.tokendir = {directory}/tokens\nobjectstore.backend = file\nlog.level = ERROR\n")
        os.environ["SOFTHSM2_CONF"] = conf
        os.environ[HSM_PIN_ENV] = "314159"
        subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", HSM_TOKEN, "--so-pin", "271828",
                        "--pin", os.environ[HSM_PIN_ENV]], check=True, capture_output=True)
        _hsm_directory = directory
    return _hsm_directory


def postgres_server():
    """The test PostgreSQL server (NUAGE_TEST_POSTGRES_URL, postgres://USER@HOST:PORT/DB?sslmode=…,
    which scripts/test starts with scripts/postgres); a test that needs one fails without it."""
    url = os.environ.get("NUAGE_TEST_POSTGRES_URL")
    if not url:
        pytest.fail("NUAGE_TEST_POSTGRES_URL is not set: ./scripts/test starts a PostgreSQL server (scripts/postgres)")
    return url


def postgres_database_url(database):
    """The test server's URL for another database on it, with the same TLS settings (scripts/postgres
    serves TLS with a certificate from a throwaway CA, which the URL names as sslrootcert)."""
    base, _, query = postgres_server().partition("?")
    return base.rsplit("/", 1)[0] + "/" + database + ("?" + query if query else "")


def catalog_kind():
    """NUAGE_E2E_CATALOG=postgres puts every test gateway's catalog in a PostgreSQL database of its own."""
    return os.environ.get("NUAGE_E2E_CATALOG", "sqlite")


def psql(url, statement):
    """Runs one statement as the test server's user (trust authentication on loopback)."""
    subprocess.run(["psql", url, "-v", "ON_ERROR_STOP=1", "-qAtc", statement], check=True, capture_output=True, timeout=60)


def master_key_kind():
    """Where the tests' gateways keep their master key: NUAGE_E2E_MASTER_KEY=pkcs11 puts it in SoftHSM2."""
    return os.environ.get("NUAGE_E2E_MASTER_KEY", "file")


class Server:
    def __init__(self, *serve_args, master_key=None, catalog=None, joining=None):
        self.dir = tempfile.mkdtemp(prefix="nuage-e2e-")
        self.data = os.path.join(self.dir, "data")
        self.binary = nuage_binary()
        self.serve_args = serve_args
        self.master_key = master_key or master_key_kind()
        self.catalog_url = None
        if joining:
            self.join(joining)
            return
        if self.master_key == "pkcs11":
            softhsm_token()
            # Each gateway its own key in the shared token.
            self.hsm_uri = f"pkcs11:token={HSM_TOKEN};object=master-{os.path.basename(self.dir)}"
            self.run("init", "--master-key", "pkcs11", "--module", SOFTHSM_MODULE, "--uri", self.hsm_uri, "--pin-env", HSM_PIN_ENV)
        else:
            self.run("init")
        if (catalog or catalog_kind()) == "postgres":
            server = postgres_server()
            database = "e2e_" + os.path.basename(self.dir).replace("-", "_").lower()
            psql(server, f"CREATE DATABASE {database}")
            self.catalog_url = postgres_database_url(database)
            path = os.path.join(self.data, "nuage.toml")
            text = open(path).read()
            open(path, "w").write(text.replace("[[provider]]", f'[catalog]\nkind = "postgres"\nurl = "{self.catalog_url}"\n\n[[provider]]', 1))
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

    def reconfigure(self, old, new):
        """Stops the gateway, replaces `old` by `new` in its nuage.toml and starts it again."""
        self.process.terminate()
        self.process.wait(timeout=30)
        path = os.path.join(self.data, "nuage.toml")
        text = open(path).read()
        assert old in text, f"{old!r} is not in nuage.toml"
        open(path, "w").write(text.replace(old, new))
        self.start()

    def join(self, other):
        """Another gateway for `other`'s catalog (PostgreSQL), providers and master key: a data
        directory of its own (audit log, logs) with the same nuage.toml."""
        assert other.catalog_url, "gateways share a catalog only in PostgreSQL"
        self.hsm_uri = getattr(other, "hsm_uri", None)
        os.makedirs(self.data, mode=0o700)
        text = open(os.path.join(other.data, "nuage.toml")).read()
        text = text.replace('path = "providers/', f'path = "{other.data}/providers/')
        open(os.path.join(self.data, "nuage.toml"), "w").write(text)
        if os.path.exists(os.path.join(other.data, "master.key")):
            shutil.copy2(os.path.join(other.data, "master.key"), os.path.join(self.data, "master.key"))
        self.catalog_url, self.shared = other.catalog_url, True
        self.access_key, self.secret_key = other.access_key, other.secret_key
        self.log = open(os.path.join(self.dir, "serve.log"), "w+")
        self.start()

    def lose_catalog(self):
        """What a lost gateway disk (or database) does to the catalog: it is gone, empty for recovery."""
        if self.catalog_url:
            server = postgres_server()
            database = self.catalog_url.partition("?")[0].rsplit("/", 1)[1]
            psql(server, f"DROP DATABASE {database} WITH (FORCE)")
            psql(server, f"CREATE DATABASE {database}")
        for name in os.listdir(self.data):
            if name.startswith("catalog.sqlite"):
                os.remove(os.path.join(self.data, name))

    def run(self, *args, check=True):
        result = subprocess.run([self.binary, *args, "--data", self.data], capture_output=True, text=True, timeout=120)
        if check and result.returncode != 0:
            raise AssertionError(f"nuage {' '.join(args)} failed: {result.stderr}")
        return result.stdout

    def wait_for_port(self):
        deadline = time.time() + 30
        while time.time() < deadline:
            self.log.seek(0)
            # A gateway listening on every interface (0.0.0.0) is reached through loopback too.
            match = re.search(r"serving S3 on http://(127\.0\.0\.1|0\.0\.0\.0):(\d+)", self.log.read())
            if match:
                return f"http://127.0.0.1:{match.group(2)}"
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
            if self.catalog_url and not getattr(self, "shared", False):
                psql(postgres_server(), f"DROP DATABASE IF EXISTS {self.catalog_url.partition('?')[0].rsplit('/', 1)[1]} WITH (FORCE)")


@pytest.fixture(scope="session")
def server():
    s = Server()
    yield s
    assert s.process.poll() is None, "the server died during the tests"
    # The log of the whole session's gateway never holds its access key's secret.
    s.log.flush()
    log = open(os.path.join(s.dir, "serve.log")).read()
    assert s.secret_key not in log and "request" in log, "the secret key is in the log, or requests were not logged"
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


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def browser():
    """Headless Chromium (Debian's chromium and chromium-driver), driven by Selenium."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    options = Options()
    options.binary_location = shutil.which("chromium")
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1100"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    yield driver
    driver.quit()

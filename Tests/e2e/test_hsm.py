"""The master key in an HSM (SoftHSM2 over PKCS#11): a gateway on it, no key in the data
directory, a wrong PIN named, and the token gone mid-run: reads the cache allows still served,
everything else a clear 503, no write lost, readiness false, and all back with the token."""
import io
import json
import os
import subprocess
import time
import urllib.request

import botocore.exceptions
import pytest
from boto3.s3.transfer import TransferConfig

from conftest import HSM_PIN_ENV, Server, softhsm_token


def ready(server):
    try:
        with urllib.request.urlopen(server.endpoint + "/health/ready", timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_a_gateway_on_a_token_key():
    server = Server(master_key="pkcs11")
    try:
        assert not os.path.exists(os.path.join(server.data, "master.key")), "no key file beside the catalog"
        toml = open(os.path.join(server.data, "nuage.toml")).read()
        assert 'kind = "pkcs11"' in toml and os.environ[HSM_PIN_ENV] not in toml, "the PIN is never written down"
        s3 = server.client()
        s3.create_bucket(Bucket="vault")
        bodies = {f"o{size}": os.urandom(size) for size in (0, 1, 4096, 300_000)}
        for name, body in bodies.items():
            s3.put_object(Bucket="vault", Key=name, Body=body)
        bodies["multi"] = os.urandom(11 << 20)
        s3.upload_fileobj(io.BytesIO(bodies["multi"]), "vault", "multi",
                          Config=TransferConfig(multipart_threshold=5 << 20, multipart_chunksize=5 << 20))
        for name, body in bodies.items():
            assert s3.get_object(Bucket="vault", Key=name)["Body"].read() == body, name
        status, checks = ready(server)
        assert status == 200 and checks["master-key"] == "ok", checks
        # The CLI opens the same token; a wrong PIN or none is named, the PIN never shown.
        assert "vault" in server.run("ls")
        for pin in ("999999", ""):
            env = dict(os.environ, **{HSM_PIN_ENV: pin})
            failed = subprocess.run([server.binary, "ls", "--data", server.data], env=env, capture_output=True, text=True)
            assert failed.returncode != 0, failed
            assert ("CKR_PIN_INCORRECT" if pin else f"${HSM_PIN_ENV}") in failed.stderr, failed.stderr
            assert not pin or pin not in failed.stderr
        # Init again with the same URI adopts the key: a second data directory over the same
        # providers would read these objects; here it is enough that the key is found, not made.
        adopted = subprocess.run([server.binary, "init", "--data", os.path.join(server.dir, "again"), "--master-key", "pkcs11",
                                  "--module", "/usr/lib/softhsm/libsofthsm2.so", "--uri", server.hsm_uri, "--pin-env", HSM_PIN_ENV],
                                 capture_output=True, text=True)
        assert adopted.returncode == 0, adopted.stderr
    finally:
        server.stop()


def test_the_token_gone_mid_run():
    server = Server(master_key="pkcs11")
    tokens = os.path.join(softhsm_token(), "tokens")
    try:
        s3 = server.client()
        s3.create_bucket(Bucket="vault")
        for i in range(6):
            s3.put_object(Bucket="vault", Key=f"k{i}", Body=f"body {i}".encode() * 100)
        assert s3.get_object(Bucket="vault", Key="k0")["Body"].read().startswith(b"body 0"), "k0's data key is now cached"
        os.rename(tokens, tokens + ".away")
        try:
            assert s3.get_object(Bucket="vault", Key="k0")["Body"].read().startswith(b"body 0"), "served from the cache"
            for call in (lambda: s3.get_object(Bucket="vault", Key="k1"), lambda: s3.put_object(Bucket="vault", Key="new", Body=b"x")):
                with pytest.raises(botocore.exceptions.ClientError) as refused:
                    call()
                error = refused.value.response
                assert (error["ResponseMetadata"]["HTTPStatusCode"], error["Error"]["Code"]) == (503, "ServiceUnavailable"), error
                assert "token" in error["Error"]["Message"], error
            status, checks = ready(server)
            assert status == 503 and checks["master-key"].startswith("failing"), checks
            assert "new" not in {o["Key"] for o in s3.list_objects_v2(Bucket="vault")["Contents"]}, "a refused write stored nothing"
        finally:
            os.rename(tokens + ".away", tokens)
        assert server.process.poll() is None, "the gateway kept running"
        # The token is back: the gateway finds it again (the library is re-initialised at most
        # every few seconds, so the first attempts may still fail).
        deadline = time.time() + 60
        while True:
            try:
                s3.put_object(Bucket="vault", Key="new", Body=b"after")
                break
            except botocore.exceptions.ClientError as error:
                assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 503 and time.time() < deadline, error.response
                time.sleep(0.5)
        for i in range(6):
            assert s3.get_object(Bucket="vault", Key=f"k{i}")["Body"].read() == f"body {i}".encode() * 100
        assert s3.get_object(Bucket="vault", Key="new")["Body"].read() == b"after"
        assert ready(server)[0] == 200
    finally:
        if os.path.exists(tokens + ".away"):
            os.rename(tokens + ".away", tokens)
        server.stop()


def test_rotating_a_file_key_into_the_token():
    server = Server(master_key="file")
    try:
        s3 = server.client()
        s3.create_bucket(Bucket="vault")
        bodies = {f"k{i}": os.urandom(1000 * i + 1) for i in range(5)}
        for name, body in bodies.items():
            s3.put_object(Bucket="vault", Key=name, Body=body)
        server.process.terminate()
        server.process.wait(timeout=30)
        softhsm_token()
        uri = f"pkcs11:token=nuage-e2e;object=rotated-{os.path.basename(server.dir)}"
        out = server.run("keys", "rotate-master", "--to", "pkcs11", "--module", "/usr/lib/softhsm/libsofthsm2.so",
                         "--uri", uri, "--pin-env", HSM_PIN_ENV)
        kept = os.listdir(os.path.join(server.data, "master.key.d"))
        assert len(kept) == 1 and not os.path.exists(os.path.join(server.data, "master.key")), out
        assert "is active" in out and "moved 5 version(s)" in out, out
        server.run("keys", "retire-master", kept[0].removesuffix(".key"))
        assert os.listdir(os.path.join(server.data, "master.key.d")) == [], "the file key is destroyed"
        assert 'kind = "pkcs11"' in open(os.path.join(server.data, "nuage.toml")).read()
        server.start()
        s3 = server.client()
        for name, body in bodies.items():
            assert s3.get_object(Bucket="vault", Key=name)["Body"].read() == body, name
        s3.put_object(Bucket="vault", Key="after", Body=b"after")
        bodies["after"] = b"after"
        server.process.terminate()
        server.process.wait(timeout=30)
        # From one token key to another: the first is named in master.key.d/ID.toml until it is
        # retired, which destroys it in the token.
        second = uri.replace("rotated-", "second-")
        out = server.run("keys", "rotate-master", "--to", "pkcs11", "--module", "/usr/lib/softhsm/libsofthsm2.so",
                         "--uri", second, "--pin-env", HSM_PIN_ENV)
        kept = os.listdir(os.path.join(server.data, "master.key.d"))
        assert len(kept) == 1 and kept[0].endswith(".toml") and "moved 6 version(s)" in out, (kept, out)
        reference = open(os.path.join(server.data, "master.key.d", kept[0])).read()
        assert uri.split(";object=")[1] in reference and os.environ[HSM_PIN_ENV] not in reference
        server.run("keys", "retire-master", kept[0].removesuffix(".toml"))
        # The retired key is gone from the token: naming it again fails.
        open(os.path.join(server.data, "master.key.d", kept[0]), "w").write(reference)
        failed = subprocess.run([server.binary, "ls", "--data", server.data], capture_output=True, text=True)
        assert failed.returncode != 0 and "no secret key labelled" in failed.stderr, failed.stderr
        os.remove(os.path.join(server.data, "master.key.d", kept[0]))
        # And back to a key file.
        out = server.run("keys", "rotate-master")
        assert os.path.exists(os.path.join(server.data, "master.key")) and "[master-key]" not in open(os.path.join(server.data, "nuage.toml")).read()
        server.run("keys", "retire-master", os.listdir(os.path.join(server.data, "master.key.d"))[0].removesuffix(".toml"))
        server.start()
        s3 = server.client()
        for name, body in bodies.items():
            assert s3.get_object(Bucket="vault", Key=name)["Body"].read() == body, name
    finally:
        server.stop()

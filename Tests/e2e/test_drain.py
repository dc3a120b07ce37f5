"""Draining a provider online, under real client traffic, and offline through a SIGKILL."""
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import threading
import time

from boto3.s3.transfer import TransferConfig

from conftest import Server
from s3fleet import stop_all, use_s3_providers
from test_bad_input import send

DRAINED = "eu-paris"


def fill(s3, bucket, count=200):
    """Objects from 0 bytes to 12 MiB, two of them multipart; returns key -> SHA-256."""
    rng = random.Random(7)
    digests = {}
    for i in range(count):
        size = rng.choice([0, 1, 100, 4096, 70_000, 300_000, 1 << 20]) if i % 40 else (24 << 20 if i == 0 else 12 << 20)
        body = os.urandom(size)
        s3.put_object(Bucket=bucket, Key=f"o{i:03}", Body=body)
        digests[f"o{i:03}"] = hashlib.sha256(body).hexdigest()
    for name in ["multi-a", "multi-b"]:
        body = os.urandom(11 << 20)
        s3.upload_fileobj(__import__("io").BytesIO(body), bucket, name,
                          Config=TransferConfig(multipart_threshold=5 << 20, multipart_chunksize=5 << 20))
        digests[name] = hashlib.sha256(body).hexdigest()
    return digests


def mark_draining(server, name=DRAINED):
    path = os.path.join(server.data, "nuage.toml")
    text = open(path).read().replace(f'name = "{name}"', f'name = "{name}"\nstate = "draining"')
    assert 'state = "draining"' in text
    open(path, "w").write(text)


def remove_provider(server, name):
    """What an operator does once a provider is drained: its block leaves nuage.toml, its directory the disk."""
    path = os.path.join(server.data, "nuage.toml")
    text = open(path).read()
    start = text.index(f'[[provider]]\nname = "{name}"')
    end = text.find("[[provider]]", start + 1)
    open(path, "w").write(text[:start] + (text[end:] if end >= 0 else ""))
    shutil.rmtree(os.path.join(server.data, "providers", name))


def shards_on(server, country):
    status, body = send(server, "GET", "/_nuage/exposure")
    assert status == 200, body
    return next(j["shards"] for j in json.loads(body)["jurisdictions"] if j["code"] == country)


def blob_files(server):
    return sum(len(files) for _, _, files in os.walk(os.path.join(server.data, "providers", DRAINED)))


def check_all(s3, bucket, digests):
    for key, digest in digests.items():
        assert hashlib.sha256(s3.get_object(Bucket=bucket, Key=key)["Body"].read()).hexdigest() == digest, key


def test_online_drain_under_client_traffic():
    server = Server()
    try:
        s3 = server.client()
        s3.create_bucket(Bucket="data")
        digests = fill(s3, "data")
        server.process.terminate()
        server.process.wait(timeout=30)
        mark_draining(server)
        server.start()  # the gateway drains providers marked draining in the background
        drain_under_traffic(server, digests, "FR", emptied=lambda: blob_files(server) == 0)
        status = json.loads(server.run("providers", "drain", DRAINED, "--status", "--json"))
        assert status["left"]["shards"] == 0 and status["run"]["runner"] == "nuage serve", status
        assert status["run"]["shards"] > 0 and status["run"]["pid"] == server.process.pid, status
        drains = [json.loads(line) for line in server.run("audit", "show", "--json").splitlines()]
        assert any(r["action"] == "provider.drain" and r["actor"] == "serve" and DRAINED in r["detail"] for r in drains), drains[-3:]
        # Nothing lands on the drained provider any more: it can go.
        server.process.terminate()
        server.process.wait(timeout=30)
        remove_provider(server, DRAINED)
        server.start()
        check_all(server.client(), "data", digests)
    finally:
        server.stop()


def drain_under_traffic(server, digests, country, emptied=lambda: True):
    """Client threads get, put, list and delete while the gateway drains the provider in
    `country`, until no shard is left there and `emptied()`; no request may fail."""
    s3 = server.client()
    stop, failures, operations = threading.Event(), [], [0]

    def traffic(worker):
        rng = random.Random(worker)
        mine = {}
        while not stop.is_set():
            try:
                key = rng.choice(list(digests))
                body = s3.get_object(Bucket="data", Key=key)["Body"].read()
                assert hashlib.sha256(body).hexdigest() == digests[key], f"wrong bytes for {key}"
                new = f"new-{worker}-{rng.randrange(20)}"
                data = os.urandom(rng.choice([0, 1000, 200_000]))
                s3.put_object(Bucket="data", Key=new, Body=data)
                mine[new] = data
                assert s3.get_object(Bucket="data", Key=new)["Body"].read() == data
                s3.list_objects_v2(Bucket="data", Prefix="new-")
                if rng.random() < 0.3:
                    s3.delete_object(Bucket="data", Key=new)
                    mine.pop(new)
                operations[0] += 5
            except Exception as error:  # every failure counts
                failures.append(repr(error))
        return mine

    threads = [threading.Thread(target=traffic, args=(w,)) for w in range(3)]
    for thread in threads:
        thread.start()
    try:
        deadline = time.time() + 600
        while shards_on(server, country) > 0:
            assert time.time() < deadline, "the drain did not finish"
            time.sleep(0.5)
        # Then the old shards are deleted from it.
        while not emptied():
            assert time.time() < deadline, "the drained provider was not emptied"
            time.sleep(0.5)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert failures == [], failures[:5]
    assert operations[0] > 0
    check_all(s3, "data", digests)


def test_a_drain_killed_midway_resumes_and_loses_nothing():
    server = Server()
    try:
        s3 = server.client()
        s3.create_bucket(Bucket="data")
        digests = fill(s3, "data", count=60)
        server.process.terminate()
        server.process.wait(timeout=30)
        mark_draining(server)
        plan = json.loads(server.run("providers", "drain", DRAINED, "--status", "--json"))
        # Slowly, so that the kill lands mid-drain.
        first = subprocess.Popen([server.binary, "providers", "drain", DRAINED, "--rate", "1", "--data", server.data],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(3)
        running = json.loads(server.run("providers", "drain", DRAINED, "--status", "--json"))
        first.send_signal(signal.SIGKILL)
        first.wait()
        assert first.returncode == -signal.SIGKILL, "the drain ended before the kill: nothing was tested"
        assert running["running"] and running["run"]["runner"] == "nuage providers drain", running
        assert running["run"]["shards"] > 0 and running["run"]["pid"] == first.pid, running
        status = json.loads(server.run("providers", "drain", DRAINED, "--status", "--json"))
        assert not status["running"] and status["run"].get("finished") is None, "a killed run shows as interrupted"
        assert "interrupted" in server.run("providers", "drain", DRAINED, "--status")
        left = status["left"]
        assert 0 < left["shards"] < plan["left"]["shards"], "the first run moved some shards and was cut short"
        assert left["shards"] <= plan["left"]["shards"] - status["run"]["shards"], "what the journal says moved is gone from the plan"
        done = json.loads(server.run("providers", "drain", DRAINED, "--json"))
        assert done["failed"] == [] and done["shards"] == left["shards"], "the second run moved exactly what was left"
        assert done["blobsLeft"] == [] and blob_files(server) == 0, done
        final = json.loads(server.run("providers", "drain", DRAINED, "--status", "--json"))
        assert final["left"]["shards"] == 0 and final["run"]["finished"] and final["run"]["shards"] == left["shards"], final
        remove_provider(server, DRAINED)
        server.start()
        check_all(server.client(), "data", digests)
        server.run("gc", "--grace", "0", "--delete-delay", "0", check=False)
    finally:
        server.stop()


def test_online_drain_of_a_frozen_s3_provider(monkeypatch):
    """Seven S3 providers (real `rclone serve s3`); the one in FR is frozen with SIGSTOP from
    the start of the drain: nothing is read from it, clients see no failure, and the gateway
    reports what it could not delete from it."""
    server = Server()
    servers = {}
    try:
        servers = use_s3_providers(server, monkeypatch)
        s3 = server.client()
        s3.create_bucket(Bucket="data")
        digests = fill(s3, "data")
        server.process.terminate()
        server.process.wait(timeout=30)
        mark_draining(server, "s3-fr")
        servers["FR"].process.send_signal(signal.SIGSTOP)
        server.start()
        drain_under_traffic(server, digests, "FR")
        # The run ends once the sweep has given up on the frozen provider (its answer timeout).
        deadline = time.time() + 120
        while not (status := json.loads(server.run("providers", "drain", "s3-fr", "--status", "--json")))["run"].get("finished"):
            assert time.time() < deadline, status
            time.sleep(0.5)
        print("sweep of the frozen provider ended", time.time() - deadline + 120, "s after the last shard moved")
        assert status["left"]["shards"] == 0 and status["run"]["shards"] > 0, status
        server.log.seek(0)
        log = server.log.read()
        assert "drain progress" in log and "provider=s3-fr" in log and "left=" in log, log[-3000:]
        # Thawed, a drain run sweeps it empty.
        servers["FR"].process.send_signal(signal.SIGCONT)
        done = json.loads(server.run("providers", "drain", "s3-fr", "--json"))
        assert done["shards"] == 0 and done["blobsLeft"] == [] and done["blobsDeleted"] > 0, done
        assert servers["FR"].blobs() == 0
        # Gone for good: every object still reads.
        servers["FR"].stop()
        check_all(server.client(), "data", digests)
    finally:
        server.stop()
        stop_all(servers)

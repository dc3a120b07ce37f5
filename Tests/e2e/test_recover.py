"""The catalog lost with the gateway's disk comes back from the journal at the providers."""
import io
import json
import os
import signal
import threading
import time

from boto3.s3.transfer import TransferConfig

from conftest import Server
from s3fleet import stop_all, use_s3_providers


def workload(s3):
    """Every kind of change through a real client; returns (bucket, key) -> bytes acknowledged."""
    acked = {}
    for bucket in ["keep", "other", "temp"]:
        s3.create_bucket(Bucket=bucket)
    for i in range(30):
        body = os.urandom([0, 1, 1000, 300_000][i % 4])
        bucket = "keep" if i % 2 else "other"
        s3.put_object(Bucket=bucket, Key=f"k{i}", Body=body, ContentType=f"text/x-{i}", Metadata={"n": str(i)})
        acked[(bucket, f"k{i}")] = body
    for i in range(0, 30, 4):  # overwrites
        bucket = "keep" if i % 2 else "other"
        acked[(bucket, f"k{i}")] = body = os.urandom(2000 + i)
        s3.put_object(Bucket=bucket, Key=f"k{i}", Body=body)
    for i in range(1, 30, 6):  # deletes
        bucket = "keep" if i % 2 else "other"
        s3.delete_object(Bucket=bucket, Key=f"k{i}")
        acked.pop((bucket, f"k{i}"))
    s3.copy_object(Bucket="keep", Key="copied", CopySource={"Bucket": "other", "Key": "k2"})
    acked[("keep", "copied")] = acked[("other", "k2")]
    big = os.urandom(11 << 20)
    s3.upload_fileobj(io.BytesIO(big), "keep", "multi",
                      Config=TransferConfig(multipart_threshold=5 << 20, multipart_chunksize=5 << 20))
    acked[("keep", "multi")] = big
    s3.put_object(Bucket="temp", Key="t", Body=b"t")
    s3.delete_object(Bucket="temp", Key="t")
    s3.delete_bucket(Bucket="temp")
    return acked


def lose_catalog(server):
    server.lose_catalog()


def check(s3, acked, maybe=None):
    maybe = maybe or {}
    assert sorted(b["Name"] for b in s3.list_buckets()["Buckets"]) == ["keep", "other"]
    listed = {(bucket, o["Key"]) for bucket in ["keep", "other"]
              for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])}
    assert listed - set(maybe) == set(acked) - set(maybe), "exactly the acknowledged objects, no deleted one"
    for (bucket, key), body in acked.items():
        got = s3.get_object(Bucket=bucket, Key=key)
        data = got["Body"].read()
        if (bucket, key) in maybe:
            assert data in (body, maybe[(bucket, key)]), key
        else:
            assert data == body, key
    head = s3.head_object(Bucket="keep", Key="k3")
    assert head["ContentType"] == "text/x-3" and head["Metadata"] == {"n": "3"}


def test_recover_after_a_sigkill_mid_workload():
    server = Server()
    try:
        s3 = server.client()
        acked = workload(s3)
        # A writer overwrites keys as fast as it can; the gateway is killed under it.
        maybe, stop = {}, threading.Event()

        def writer():
            i = 0
            while not stop.is_set():
                key = ("keep", f"w{i % 8}")
                body = os.urandom(5000)
                maybe[key] = body
                try:
                    s3.put_object(Bucket=key[0], Key=key[1], Body=body)
                except Exception:
                    return  # the gateway is gone: this put may or may not have taken effect
                acked[key] = body
                maybe.pop(key)
                i += 1

        thread = threading.Thread(target=writer)
        thread.start()
        time.sleep(2)
        server.process.send_signal(signal.SIGKILL)
        server.process.wait()
        stop.set()
        thread.join()
        assert any(k[1].startswith("w") for k in acked), "the writer got some puts through"
        # The put in flight when the gateway died (if any) may or may not have taken effect.
        lose_catalog(server)
        report = json.loads(server.run("recover", "--json"))
        assert report["problems"] == [] and report["unreadable"] == [], report
        assert report["buckets"] == 2 and report["accessKeys"] == 1, report
        server.start()  # the same access key works: it came back too
        s3 = server.client()
        check(s3, acked, maybe)
        # The recovered gateway goes on: new writes, and a second recovery finds them too.
        s3.put_object(Bucket="keep", Key="after", Body=b"after")
        acked[("keep", "after")] = b"after"
        server.process.terminate()
        server.process.wait(timeout=30)
        lose_catalog(server)
        again = json.loads(server.run("recover", "--json"))
        assert again["objects"] == report["objects"] + 1, again
        server.start()
        check(server.client(), acked, maybe)
    finally:
        server.stop()


def test_recover_over_s3_providers_with_one_unreachable(monkeypatch):
    """Seven real `rclone serve s3` providers; the catalog is lost and one provider is frozen
    (SIGSTOP) during the recovery: everything acknowledged comes back."""
    server = Server()
    servers = {}
    try:
        servers = use_s3_providers(server, monkeypatch)
        acked = workload(server.client())
        server.process.terminate()
        server.process.wait(timeout=30)
        lose_catalog(server)
        servers["JP"].process.send_signal(signal.SIGSTOP)
        report = json.loads(server.run("recover", "--json"))
        assert report["problems"] == [] and report["unreadable"] == [], report
        assert len(report["unreachable"]) == 1 and report["unreachable"][0].startswith("s3-jp"), report
        servers["JP"].process.send_signal(signal.SIGCONT)
        server.start()
        check(server.client(), acked)
    finally:
        server.stop()
        stop_all(servers)

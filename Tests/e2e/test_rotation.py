"""A master-key rotation while real S3 clients read and write through a running gateway."""
import hashlib
import os
import random
import subprocess
import threading
import time

from conftest import Server


def test_rotation_online_loses_no_request():
    server = Server()
    try:
        s3 = server.client()
        s3.create_bucket(Bucket="rot")
        objects = {}
        for i in range(40):
            body = os.urandom(random.Random(i).choice([0, 10, 5000, 300_000]))
            s3.put_object(Bucket="rot", Key=f"k{i}", Body=body)
            objects[f"k{i}"] = body
        lock, stop, failures, operations = threading.Lock(), threading.Event(), [], [0]

        def traffic(worker):
            rng = random.Random(worker)
            client = server.client()
            while not stop.is_set():
                try:
                    # The first objects, or this worker's own (no other client overwrites them meanwhile).
                    with lock:
                        key = rng.choice([k for k in objects if k.startswith(("k", f"w{worker}-"))])
                        expected = objects[key]
                    got = client.get_object(Bucket="rot", Key=key)["Body"].read()
                    assert got == expected, f"wrong bytes for {key}"
                    new, body = f"w{worker}-{rng.randrange(10)}", os.urandom(rng.choice([1, 2000, 100_000]))
                    client.put_object(Bucket="rot", Key=new, Body=body)
                    with lock:
                        objects[new] = body
                    client.list_objects_v2(Bucket="rot", MaxKeys=50)
                    operations[0] += 3
                except Exception as error:  # every failure counts
                    failures.append(repr(error))

        threads = [threading.Thread(target=traffic, args=(w,)) for w in range(3)]
        for thread in threads:
            thread.start()
        try:
            time.sleep(1)
            rotate = server.run("keys", "rotate-master")
            old = rotate.split("\n")[0].split(" ")[5]
            # Writes the gateway made under the old key before it read the new one move too.
            deadline = time.time() + 120
            while True:
                server.run("keys", "rekey")
                retire = subprocess.run([server.binary, "keys", "retire-master", old, "--data", server.data],
                                        capture_output=True, text=True, timeout=120)
                if retire.returncode == 0:
                    break
                assert time.time() < deadline, retire.stdout + retire.stderr
                time.sleep(1)
            time.sleep(6)  # the gateway reads the keys every 5 s: the old one is gone from it too
        finally:
            stop.set()
            for thread in threads:
                thread.join()
        assert failures == [], failures[:5]
        assert operations[0] > 0
        server.log.seek(0)
        assert "a new master key is active" in server.log.read()
        assert not os.path.exists(os.path.join(server.data, "master.key.d", f"{old}.key"))
        s3 = server.client()
        for key, body in objects.items():
            assert hashlib.sha256(s3.get_object(Bucket="rot", Key=key)["Body"].read()).digest() == hashlib.sha256(body).digest(), key
    finally:
        server.stop()

"""The audit log of a real gateway: what S3 clients and commands did, verified by Nuage and by
an independent script, and every kind of tampering with audit.sqlite caught."""
import json
import os
import shutil
import sqlite3
import subprocess
import sys

from botocore.exceptions import ClientError

from conftest import Server

HERE = os.path.dirname(os.path.abspath(__file__))


def records(server):
    return [json.loads(line) for line in server.run("audit", "show", "--json").splitlines()]


def verify(server, *extra):
    result = subprocess.run([server.binary, "audit", "verify", "--json", *extra, "--data", server.data],
                            capture_output=True, text=True, timeout=120)
    return result.returncode, json.loads(result.stdout)


def test_the_log_records_changes_and_refusals_and_catches_tampering(tmp_path):
    server = Server()
    try:
        s3 = server.client()
        s3.create_bucket(Bucket="audited")
        s3.put_object(Bucket="audited", Key="a.txt", Body=b"a")
        s3.get_object(Bucket="audited", Key="a.txt")  # a read: not recorded by default
        s3.delete_object(Bucket="audited", Key="a.txt")
        try:
            server.client(secret="wrong" * 8).put_object(Bucket="audited", Key="b", Body=b"b")
        except ClientError:
            pass
        server.run("bucket", "create", "by-cli")
        log = records(server)
        actions = [(r["action"], r["outcome"]) for r in log]
        for expected in [("serve.start", "ok"), ("s3:CreateBucket", "ok"), ("s3:PutObject", "ok"), ("s3:DeleteObject", "ok"),
                         ("bucket.create", "ok")]:
            assert expected in actions, actions
        assert not any(a == "s3:GetObject" for a, _ in actions), "reads are not recorded unless [audit] reads = true"
        refused = [r for r in log if r["outcome"].startswith("403")]
        assert refused and refused[0]["address"] == "127.0.0.1" and "SignatureDoesNotMatch" in refused[0]["outcome"], log
        put = next(r for r in log if r["action"] == "s3:PutObject")
        assert put["accessKey"] == server.access_key and put["bucket"] == "audited" and put["key"] == "a.txt"
        assert [r["index"] for r in log] == list(range(len(log)))

        # The gateway's checkpoint is signed within a minute; stop it so that the log is still.
        server.process.terminate()
        server.process.wait(timeout=30)
        server.run("report", "exposure")  # a command: recorded, checkpointed, copied to providers
        status, clean = verify(server, "--from-providers")
        assert status == 0 and clean["problems"] == [] and clean["copiesCompared"] >= 1, clean

        # An auditor's check without Nuage.
        bundle = str(tmp_path / "bundle")
        server.run("audit", "export", bundle)
        checked = subprocess.run([sys.executable, os.path.join(HERE, "audit_verify.py"), bundle], capture_output=True, text=True)
        assert checked.returncode == 0, checked.stdout + checked.stderr

        database = os.path.join(server.data, "audit.sqlite")
        pristine = str(tmp_path / "pristine.sqlite")
        with sqlite3.connect(database) as source, sqlite3.connect(pristine) as copy:
            source.backup(copy)

        def restore():
            for suffix in ["", "-wal", "-shm"]:
                if os.path.exists(database + suffix):
                    os.remove(database + suffix)
            shutil.copy(pristine, database)

        def tampered(change, *extra):
            restore()
            db = sqlite3.connect(database)
            change(db)
            db.commit()
            db.close()
            status, result = verify(server, *extra)
            return status == 1 and result["problems"], result

        def flip(db, index):
            (data,) = db.execute("SELECT bytes FROM record WHERE idx = ?", (index,)).fetchone()
            data = bytearray(data)
            data[len(data) // 2] ^= 1
            db.execute("UPDATE record SET bytes = ? WHERE idx = ?", (bytes(data), index))

        count = len(log) + 1
        for index in range(count):  # one byte of any record
            caught, result = tampered(lambda db: flip(db, index))
            assert caught, (index, result)
        for n in [1, 2]:  # the last N records deleted
            caught, result = tampered(lambda db: db.execute("DELETE FROM record WHERE idx >= ?", (count - n,)))
            assert caught, result

        def swap(db):
            a, b = (db.execute("SELECT bytes FROM record WHERE idx = ?", (i,)).fetchone()[0] for i in (1, 2))
            db.execute("UPDATE record SET bytes = ? WHERE idx = 1", (b,))
            db.execute("UPDATE record SET bytes = ? WHERE idx = 2", (a,))
        caught, result = tampered(swap)
        assert caught, result

        # An older copy of the whole file (records and checkpoints as they were): consistent on its
        # own, caught against the copies at providers.
        def roll_back(db):
            db.execute("DELETE FROM record WHERE idx >= ?", (count - 1,))
            db.execute("DELETE FROM checkpoint WHERE size >= ?", (count,))
        caught, result = tampered(roll_back)
        assert not caught, "a consistent older copy passes the local check alone"
        caught, result = tampered(roll_back, "--from-providers")
        assert caught and any("rolled back" in p for p in result["problems"]), result
        restore()
        assert verify(server, "--from-providers")[0] == 0
    finally:
        server.stop()

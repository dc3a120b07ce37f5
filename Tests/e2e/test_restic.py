"""restic (its s3: backend, minio-go) backing up to, checking, restoring from and pruning a real `nuage serve`."""
import json
import os
import shutil
import subprocess

import pytest


def restic(server, *args, cwd=None):
    """Runs restic on the repository in bucket `restic` (no local cache: every read goes to the server)."""
    if shutil.which("restic") is None:
        pytest.fail("restic is not installed: apt-get install restic (scripts/test does)")
    env = server.env()
    env.update(RESTIC_REPOSITORY=f"s3:{server.endpoint}/restic", RESTIC_PASSWORD="correct horse battery staple")
    result = subprocess.run(["restic", "--no-cache", *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=600)
    assert result.returncode == 0, f"restic {' '.join(args)} failed ({result.returncode}):\n{result.stderr}\n{result.stdout}"
    return result.stdout


def write(root, files):
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)


def tree(root):
    """Every file under root (relative path: bytes) and every directory (relative paths)."""
    files, dirs = {}, set()
    for parent, subdirs, names in os.walk(root):
        rel = os.path.relpath(parent, root)
        dirs.update(os.path.normpath(os.path.join(rel, d)) for d in subdirs)
        for name in names:
            with open(os.path.join(parent, name), "rb") as f:
                files[os.path.normpath(os.path.join(rel, name))] = f.read()
    return files, dirs


def test_backup_incremental_check_restore_forget_prune(server, tmp_path):
    """Two snapshots (the second incremental), verified by reading every pack back, restored byte
    for byte; pruning the first keeps the second whole."""
    src = tmp_path / "src"
    big = os.urandom(3 * 1024 * 1024 + 123)
    write(src, {
        "big.bin": big,
        "nested/copy-of-big.bin": big,  # deduplicated: stored once
        "zeros.bin": bytes(2 * 1024 * 1024),
        "notes.txt": b"restic against nuage\n" * 1000,
        "empty": b"",
        "nested/deeper/deepest/random.bin": os.urandom(700_000),
        "nested/deeper/small.txt": b"small\n",
    })
    (src / "empty-dir").mkdir()
    restic(server, "init")
    restic(server, "backup", ".", cwd=src)
    first = tree(src)

    # Change a few bytes in the middle of a large file, replace one, add one, remove one.
    with open(src / "big.bin", "r+b") as f:
        f.seek(1_500_000)
        f.write(b"changed in the middle")
    (src / "notes.txt").write_bytes(b"rewritten notes\n")
    write(src, {"nested/new.bin": os.urandom(1_200_000)})
    (src / "nested/deeper/small.txt").unlink()
    output = restic(server, "--json", "backup", ".", cwd=src)
    summary = next(m for m in map(json.loads, output.splitlines()) if m.get("message_type") == "summary")
    assert (summary["files_new"], summary["files_changed"]) == (1, 2), summary
    second = tree(src)
    assert second != first

    restic(server, "check", "--read-data")
    snapshots = sorted(json.loads(restic(server, "snapshots", "--json")), key=lambda s: s["time"])
    assert len(snapshots) == 2, snapshots
    older = snapshots[0]["short_id"]

    restic(server, "restore", older, "--target", str(tmp_path / "first"))
    assert tree(tmp_path / "first") == first
    restic(server, "restore", "latest", "--target", str(tmp_path / "second"))
    assert tree(tmp_path / "second") == second

    restic(server, "forget", "--keep-last", "1", "--prune")
    restic(server, "check", "--read-data")
    assert [s["short_id"] for s in json.loads(restic(server, "snapshots", "--json"))] == [snapshots[1]["short_id"]]
    restic(server, "restore", "latest", "--target", str(tmp_path / "after-prune"))
    assert tree(tmp_path / "after-prune") == second

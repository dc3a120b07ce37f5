"""s3cmd (path style, SigV4) against a real `nuage serve`."""
import os
import shutil
import subprocess
import urllib.parse
import urllib.request

import pytest


@pytest.fixture
def s3cmd(server, tmp_path):
    """Runs s3cmd with a config for the server (and nothing from ~/.s3cfg); returns stdout."""
    if shutil.which("s3cmd") is None:
        pytest.fail("s3cmd is not installed: apt-get install s3cmd (scripts/test does)")
    config = tmp_path / "s3cfg"
    netloc = urllib.parse.urlsplit(server.endpoint).netloc
    config.write_text(f"[default]\naccess_key = {server.access_key}\nsecret_key = {server.secret_key}\n"
                      f"host_base = {netloc}\nhost_bucket = {netloc}\nuse_https = False\nsignature_v2 = False\n"
                      "bucket_location = us-east-1\n")

    def run(*args):
        result = subprocess.run(["s3cmd", "-c", str(config), "--no-progress", *args], capture_output=True, text=True,
                                env=server.env(), timeout=300)
        assert result.returncode == 0, f"s3cmd {' '.join(args)} failed ({result.returncode}):\n{result.stderr}\n{result.stdout}"
        return result.stdout
    return run


def write(root, files):
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)


def tree(root):
    """Every file under root: relative path → bytes."""
    files = {}
    for parent, _, names in os.walk(root):
        for name in names:
            with open(os.path.join(parent, name), "rb") as f:
                files[os.path.relpath(os.path.join(parent, name), root)] = f.read()
    return files


def listing(output):
    """`s3cmd ls` lines (date, time, size, url) as {url: size}; DIR lines as {url: "DIR"}."""
    entries = {}
    for line in output.splitlines():
        fields = line.split()
        if fields and fields[0] == "DIR":
            entries[fields[1]] = "DIR"
        elif len(fields) == 4:
            entries[fields[3]] = int(fields[2])
    return entries


def test_put_get_multipart_ls_info_signurl_delete(s3cmd, tmp_path):
    """mb, put (one small file and a 12 MiB one in 5 MiB parts), get back byte for byte, ls and
    la, info on the object and the bucket, a presigned URL, then del --recursive and rb."""
    small, big = b"s3cmd small object\n", os.urandom(12 * 1024 * 1024 + 4321)
    write(tmp_path, {"small.txt": small, "big.bin": big})
    assert "created" in s3cmd("mb", "s3://s3cmd-put")
    s3cmd("put", str(tmp_path / "small.txt"), "s3://s3cmd-put/dir/small.txt")
    s3cmd("put", "--multipart-chunk-size-mb=5", str(tmp_path / "big.bin"), "s3://s3cmd-put/big.bin")

    s3cmd("get", "s3://s3cmd-put/big.bin", str(tmp_path / "big.copy"))
    s3cmd("get", "s3://s3cmd-put/dir/small.txt", str(tmp_path / "small.copy"))
    assert (tmp_path / "big.copy").read_bytes() == big
    assert (tmp_path / "small.copy").read_bytes() == small

    assert listing(s3cmd("ls", "s3://s3cmd-put")) == {"s3://s3cmd-put/dir/": "DIR", "s3://s3cmd-put/big.bin": len(big)}
    assert listing(s3cmd("ls", "--recursive", "s3://s3cmd-put")) == {"s3://s3cmd-put/big.bin": len(big),
                                                                     "s3://s3cmd-put/dir/small.txt": len(small)}
    everything = listing(s3cmd("la"))
    assert everything["s3://s3cmd-put/big.bin"] == len(big) and "s3://s3cmd-put/dir/" in everything
    assert "s3://s3cmd-put" in s3cmd("ls")

    # info also asks for the policy, CORS and ACL (NoSuchBucketPolicy, NoSuchCORSConfiguration:
    # "none"), and the bucket's payer and lifecycle.
    info = s3cmd("info", "s3://s3cmd-put/big.bin")
    assert f"File size: {len(big)}" in info and "SSE:       AES256" in info, info
    bucket_info = s3cmd("info", "s3://s3cmd-put")
    assert "Policy:    none" in bucket_info and "CORS:      none" in bucket_info, bucket_info

    url = s3cmd("signurl", "s3://s3cmd-put/dir/small.txt", "+600").strip()
    with urllib.request.urlopen(url, timeout=30) as response:
        assert (response.status, response.read()) == (200, small)

    s3cmd("del", "--recursive", "--force", "s3://s3cmd-put")
    assert listing(s3cmd("ls", "--recursive", "s3://s3cmd-put")) == {}
    s3cmd("rb", "s3://s3cmd-put")
    assert "s3://s3cmd-put" not in s3cmd("ls")


def test_sync_both_ways(s3cmd, tmp_path):
    """sync up, change the local side and sync up again (deleting what was removed), sync down
    into a fresh directory; then change the bucket and sync down over the first copy."""
    local, down = tmp_path / "local", tmp_path / "down"
    write(local, {"a.txt": b"alpha\n", "nested/b.bin": os.urandom(300_000), "nested/deeper/c.bin": os.urandom(2_000_000),
                  "empty": b""})
    s3cmd("mb", "s3://s3cmd-sync")
    s3cmd("sync", f"{local}/", "s3://s3cmd-sync/tree/")
    s3cmd("sync", "s3://s3cmd-sync/tree/", f"{down}/")
    assert tree(down) == tree(local)

    write(local, {"a.txt": b"alpha, changed\n", "nested/new.txt": b"new\n"})
    (local / "nested/deeper/c.bin").unlink()
    s3cmd("sync", "--delete-removed", f"{local}/", "s3://s3cmd-sync/tree/")
    fresh = tmp_path / "fresh"
    s3cmd("sync", "s3://s3cmd-sync/tree/", f"{fresh}/")
    assert tree(fresh) == tree(local)

    # Now the bucket changes (through s3cmd), and the older download follows it.
    write(tmp_path, {"replacement": b"replaced in the bucket\n"})
    s3cmd("put", str(tmp_path / "replacement"), "s3://s3cmd-sync/tree/nested/b.bin")
    s3cmd("del", "s3://s3cmd-sync/tree/empty")
    s3cmd("sync", "--delete-removed", "s3://s3cmd-sync/tree/", f"{down}/")
    expected = tree(local)
    expected["nested/b.bin"] = b"replaced in the bucket\n"
    del expected["empty"]
    assert tree(down) == expected

    s3cmd("del", "--recursive", "--force", "s3://s3cmd-sync")
    s3cmd("rb", "s3://s3cmd-sync")

#!/usr/bin/env python3
"""An auditor's check of a `nuage audit export` bundle, independent of Nuage: the Python
standard library and `cryptography` only. Usage: audit_verify.py BUNDLE_DIR; exit 0 when every
check passes, 1 with one line per failure otherwise. The procedure is docs/AUDIT.md's."""
import base64
import hashlib
import json
import os
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


def leaf_hash(record):
    return hashlib.sha256(b"\x00" + record).digest()


def node_hash(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def root(leaves):
    """RFC 9162 MTH."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k << 1 < len(leaves):
        k <<= 1
    return node_hash(root(leaves[:k]), root(leaves[k:]))


def verify_inclusion(leaf, index, size, path, expected):
    """RFC 9162, 2.1.3.2."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == expected


def verify_consistency(first, second, first_root, second_root, path):
    """RFC 9162, 2.1.4.2."""
    if first == second:
        return not path and first_root == second_root
    if first == 0:
        return not path
    if not path:
        return False
    if first & (first - 1) == 0:
        path = [first_root] + path
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == first_root and sr == second_root


def open_checkpoint(note, name, key_id, public_key):
    """A C2SP signed note with a tlog-checkpoint text: returns (size, root, time) or raises."""
    text, _, signatures = note.rpartition("\n\n")
    text += "\n"
    lines = text.split("\n")[:-1]
    if len(lines) != 4 or lines[0] != name or not lines[3].startswith("time "):
        raise ValueError("malformed checkpoint text")
    for line in signatures.split("\n"):
        prefix = "\u2014 " + name + " "
        if line.startswith(prefix):
            blob = base64.b64decode(line[len(prefix):])
            if blob[:4] != key_id:
                continue
            public_key.verify(blob[4:], text.encode())  # raises InvalidSignature
            return int(lines[1]), base64.b64decode(lines[2]), int(lines[3][5:])
    raise ValueError("no signature by " + name)


def main(bundle):
    failures = []
    name, key_id_hex, key_b64 = open(os.path.join(bundle, "audit.vkey")).read().strip().split("+", 2)
    key_bytes = base64.b64decode(key_b64)
    assert key_bytes[0] == 1, "an Ed25519 verifier key"
    public_key = Ed25519PublicKey.from_public_bytes(key_bytes[1:])
    key_id = bytes.fromhex(key_id_hex)
    if hashlib.sha256(name.encode() + b"\n" + key_bytes).digest()[:4] != key_id:
        failures.append("the verifier key's id does not match its key")
    if "nuage-audit/" + hashlib.sha256(key_bytes[1:]).digest()[:8].hex() != name:
        failures.append("the key's name does not match its key")

    records = open(os.path.join(bundle, "records.jsonl"), "rb").read().split(b"\n")[:-1]
    leaves = [leaf_hash(r) for r in records]
    for position, record in enumerate(records):
        if json.loads(record)["index"] != position:
            failures.append(f"record at line {position + 1} says it is #{json.loads(record)['index']}")

    checkpoints = {}
    for file in sorted(os.listdir(os.path.join(bundle, "checkpoints"))):
        note = open(os.path.join(bundle, "checkpoints", file), encoding="utf-8").read()
        try:
            size, root_hash, _ = open_checkpoint(note, name, key_id, public_key)
        except (ValueError, InvalidSignature) as error:
            failures.append(f"{file}: {error or 'bad signature'}")
            continue
        checkpoints[size] = root_hash
        if size > len(records):
            failures.append(f"{file}: covers {size} records, the bundle holds {len(records)}")
        elif root(leaves[:size]) != root_hash:
            failures.append(f"{file}: the records do not hash to its root")

    for line in open(os.path.join(bundle, "inclusion.jsonl")):
        proof = json.loads(line)
        index, size = proof["index"], proof["size"]
        path = [base64.b64decode(p) for p in proof["path"]]
        if size not in checkpoints or not verify_inclusion(leaves[index], index, size, path, checkpoints[size]):
            failures.append(f"record #{index} is not proven included in the checkpoint of size {size}")

    for line in open(os.path.join(bundle, "consistency.jsonl")):
        proof = json.loads(line)
        first, second = proof["from"], proof["to"]
        path = [base64.b64decode(p) for p in proof["path"]]
        if first not in checkpoints or second not in checkpoints or not verify_consistency(
                first, second, checkpoints[first], checkpoints[second], path):
            failures.append(f"the checkpoint of size {second} is not proven to extend the one of size {first}")

    for failure in failures:
        print(failure)
    print(f"{len(records)} records, {len(checkpoints)} checkpoints: " + ("FAILED" if failures else "verified"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))

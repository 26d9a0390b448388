"""Class: 4
Name: c4_relay_zip_bomb
Tries: exhaust the trusted kernel's memory through the wire's compression: when the trusted side calls
    normalise_id, answer with a packed message (the wire compresses large messages) that is a few hundred kB on
    the wire but inflates to 256 MB of JSON, then with one that inflates to a deeply nested answer.
Grader must: bound what a packed message may inflate to (never decompress past the relay's size limit), fail
    the test cell with a named wire failure, and grade the rest of the notebook.
"""
import base64 as _b64
import json as _json
import zlib as _zlib


def _packed(op, raw_bytes):
    z = _zlib.compressobj(9)
    data = z.compress(raw_bytes) + z.flush()
    return _json.dumps({"op": op, "z": _b64.b64encode(data).decode("ascii")})


def normalise_id(raw):
    prefix = "\x1esocialcredit-verdict:"
    z = _zlib.compressobj(9)
    chunk = b" " * (1 << 20)
    data = z.compress(b'{"op": "ok", "v": "') + b"".join(z.compress(chunk) for _ in range(256)) + z.flush()
    input(prefix + _json.dumps({"op": "ok", "z": _b64.b64encode(data).decode("ascii")}))
    return input(prefix + _packed("ok", b'{"op": "ok", "v": ' + b"[" * 200_000 + b"]" * 200_000 + b"}"))

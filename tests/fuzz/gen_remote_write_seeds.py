#!/usr/bin/env python3
"""gen_remote_write_seeds.py - writes the seed corpus of fuzz_remote_write
(tests/fuzz/corpus/remote_write/) from hand-encoded protobuf messages.

Each seed is one mode byte and a message (see fuzz_remote_write.c): bit 0
picks prometheus.WriteRequest (0) or io.prometheus.write.v2.Request (1);
bit 1 set means the rest is already snappy-compressed (the seeds here use
snappy's literal-only form, which needs no compressor).  The protobuf wire
format is written by the few helpers below (varint, tag, length-delimited
field, fixed64 double), after remote.proto, types.proto and write_v2.proto.

Run from anywhere: python3 tests/fuzz/gen_remote_write_seeds.py
"""
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "remote_write")
NOW = 1700000000000  # the driver's fixed "now" (ms)


def varint(n):
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def tag(field, wire):
    return varint(field << 3 | wire)


def ld(field, payload):  # length-delimited
    if isinstance(payload, str):
        payload = payload.encode()
    return tag(field, 2) + varint(len(payload)) + payload


def vi(field, n):  # varint field
    return tag(field, 0) + varint(n)


def dbl(field, x):  # fixed64 double
    return tag(field, 1) + struct.pack("<d", x)


def packed(field, nums):
    return ld(field, b"".join(varint(n) for n in nums))


# ---- remote write 1.0 ---------------------------------------------------------------
def label(name, value):
    return ld(1, name) + ld(2, value)


def sample(v, t):
    return dbl(1, v) + vi(2, t)


def ts_v1(labels, samples, exemplars=()):
    m = b"".join(ld(1, label(n, v)) for n, v in labels)
    m += b"".join(ld(2, sample(v, t)) for v, t in samples)
    for ls, v, t in exemplars:
        m += ld(3, b"".join(ld(1, label(n, x)) for n, x in ls) + dbl(2, v) + vi(3, t))
    return m


def metadata_v1(mtype, family, help_, unit):
    return vi(1, mtype) + ld(2, family) + ld(4, help_) + ld(5, unit)


def write_v1(series, metadata=()):
    return b"".join(ld(1, s) for s in series) + b"".join(ld(3, m) for m in metadata)


# ---- remote write 2.0 ---------------------------------------------------------------
def ts_v2(refs, samples, mtype=0, help_ref=0, unit_ref=0, created=0):
    m = packed(1, refs)
    m += b"".join(ld(2, sample(v, t)) for v, t in samples)
    if mtype or help_ref or unit_ref:
        m += ld(5, vi(1, mtype) + vi(3, help_ref) + vi(4, unit_ref))
    if created:
        m += vi(6, created)
    return m


def write_v2(symbols, series):
    return b"".join(ld(4, s) for s in symbols) + b"".join(ld(5, s) for s in series)


# ---- snappy, literal-only ---------------------------------------------------------------
def snappy_literal(data):
    out = bytearray(varint(len(data)))
    i = 0
    while i < len(data):
        chunk = data[i:i + 60]
        out.append((len(chunk) - 1) << 2)
        out += chunk
        i += len(chunk)
    return bytes(out)


def main():
    os.makedirs(OUT, exist_ok=True)
    seeds = {}
    up = [("__name__", "up"), ("instance", "a:9100"), ("job", "node")]
    seeds["v1_one_sample"] = bytes([0]) + write_v1([ts_v1(up, [(1.0, NOW)])])
    seeds["v1_many"] = bytes([0]) + write_v1(
        [ts_v1([("__name__", "m%d" % i), ("i", str(i))],
               [(float(i), NOW - 2000), (i + 0.5, NOW - 1000)]) for i in range(6)],
        [metadata_v1(1, "m0", "A counter.", ""), metadata_v1(2, "m1", "G \"q\" \\", "bytes")])
    seeds["v1_special"] = bytes([0]) + write_v1([
        ts_v1([("__name__", "nan"), ("x", "\u00e9\u2713")], [(float("nan"), NOW)]),
        ts_v1([("__name__", "inf")], [(float("inf"), NOW), (float("-inf"), NOW + 1)]),
        ts_v1([("__name__", "stale")], [(struct.unpack("<d", struct.pack("<Q", 0x7ff0000000000002))[0], NOW)]),
    ])
    seeds["v1_exemplar"] = bytes([0]) + write_v1(
        [ts_v1(up, [(2.0, NOW)], [([("trace_id", "abc")], 1.5, NOW)])])
    seeds["v1_bad_labels"] = bytes([0]) + write_v1([
        ts_v1([("job", "nameless")], [(1.0, NOW)]),
        ts_v1([("__name__", "dup"), ("a", "1"), ("a", "2")], [(1.0, NOW)]),
        ts_v1([("__name__", "unsorted"), ("z", "1"), ("a", "2")], [(1.0, NOW)]),
        ts_v1([("__name__", "empty"), ("", "v")], [(1.0, NOW)]),
        ts_v1([("__name__", "future")], [(1.0, NOW + 3600 * 1000)]),
    ])
    seeds["v1_bad_utf8"] = bytes([0]) + write_v1([
        ld(1, ld(1, "__name__") + ld(2, b"bad\xff\xfeutf8")) + ld(2, sample(1.0, NOW)),
    ])
    seeds["v1_ooo"] = bytes([0]) + write_v1([ts_v1(up, [(3.0, NOW), (4.0, NOW - 5000), (5.0, NOW)])])
    seeds["v1_empty"] = bytes([0])
    syms = ["", "__name__", "http_requests_total", "job", "api", "code", "200",
            "Requests.", "requests"]
    seeds["v2_basic"] = bytes([1]) + write_v2(syms, [
        ts_v2([1, 2, 3, 4, 5, 6], [(10.0, NOW - 1000), (12.0, NOW)], mtype=1, help_ref=7,
              unit_ref=8, created=NOW - 3600 * 1000),
        ts_v2([1, 2, 3, 4], [(1.0, NOW)]),
    ])
    seeds["v2_bad_refs"] = bytes([1]) + write_v2(syms, [
        ts_v2([1, 2, 3], [(1.0, NOW)]),          # odd number of refs
        ts_v2([1, 99], [(1.0, NOW)]),            # ref out of range
        ts_v2([3, 4, 1, 2], [(1.0, NOW)]),       # unsorted names
    ])
    seeds["v2_nonempty_first_symbol"] = bytes([1]) + write_v2(["x", "__name__", "m"],
                                                              [ts_v2([1, 2], [(1.0, NOW)])])
    seeds["raw_v1_snappy"] = bytes([2]) + snappy_literal(write_v1([ts_v1(up, [(7.0, NOW)])]))
    seeds["raw_v2_snappy"] = bytes([3]) + snappy_literal(
        write_v2(syms, [ts_v2([1, 2, 3, 4], [(1.0, NOW)])]))
    seeds["raw_bad_snappy"] = bytes([2]) + b"\xff\xff\xff\xff\x0f" + b"\x00" * 8
    for name, data in seeds.items():
        with open(os.path.join(OUT, name + ".bin"), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()

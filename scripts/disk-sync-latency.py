#!/usr/bin/env python3
"""How long this disk takes to make a write durable, without Switchboard: writes 32 KiB and calls fdatasync, in a
loop, and prints the latency distribution. `append` grows the file as a fresh WAL does; `prealloc` overwrites
blocks written beforehand, as a reused WAL does.

    python3 scripts/disk-sync-latency.py append 20
    python3 scripts/disk-sync-latency.py prealloc 20
"""
import os
import sys
import time

mode, seconds = sys.argv[1], float(sys.argv[2])
path = sys.argv[3] if len(sys.argv) > 3 else os.path.join("target", f"disk-sync-latency-{mode}")
SIZE = 256 << 20
fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
try:
    if mode == "prealloc":
        chunk = b"\0" * (1 << 20)
        for _ in range(SIZE >> 20):
            os.write(fd, chunk)
        os.fsync(fd)
    elif mode != "append":
        sys.exit("mode: append or prealloc")
    frame = os.urandom(32 << 10)
    latencies, offset, end = [], 0, time.time() + seconds
    while time.time() < end:
        os.pwrite(fd, frame, offset)
        offset = (offset + len(frame)) % SIZE
        started = time.perf_counter()
        os.fdatasync(fd)
        latencies.append((time.perf_counter() - started) * 1000)
    latencies.sort()
    n = len(latencies)
    print(
        f"{mode}: {n} syncs, p50 {latencies[n // 2]:.2f} ms, p99 {latencies[int(n * 0.99)]:.2f} ms, "
        f"p99.9 {latencies[int(n * 0.999)]:.2f} ms, max {latencies[-1]:.1f} ms, over 50 ms: "
        f"{sum(1 for x in latencies if x > 50)}"
    )
finally:
    os.close(fd)
    os.unlink(path)

#!/bin/sh
# Throughput of ktx-broker: librdkafka's producer (tools/rdkafka-perf) sends 100-byte
# records in well-filled batches (acks=all, linger.ms=5, batch.size=1000000, idempotent)
# to a one-broker ktx-broker, several runs on one broker process. For each run it prints
# the client's records/s and the CPU the broker spent (user and system, from
# /proc/PID/stat), so that the broker's own capacity (records per broker CPU second) shows
# even when the client is the bottleneck, as it is on a small machine.
#
# A second phase takes librdkafka out of the way: a small Python client (below) builds one
# Produce v7 request holding a batch of 8000 records of 100 bytes (no producer id, so the
# same batch can be appended again and again), pipelines it RAW_RECORDS/8000 times over one
# connection with acks=all and counts the answers: the records/s the broker accepts when
# the client costs next to nothing. Needs python3 (skipped without it).
#
#   tools/broker-bench.sh [BUILD_DIR] [RECORDS_PER_RUN] [RUNS] [PARTITIONS] [RAW_RECORDS]
#
# BUILD_DIR is a configured build tree holding tests/broker/ktx-broker and
# tools/rdkafka-perf (default: the current directory); defaults 2000000 records, 5 runs,
# 4 partitions, 4000000 raw records. Benchmark only: not run by `make check`.
set -eu

BUILD=${1:-.}
RECORDS=${2:-2000000}
RUNS=${3:-5}
PARTITIONS=${4:-4}
RAW_RECORDS=${5:-4000000}
BROKER=$BUILD/tests/broker/ktx-broker
PERF=$BUILD/tools/rdkafka-perf

for bin in "$BROKER" "$PERF"; do
    if [ ! -x "$bin" ]; then
        echo "broker-bench: $bin not built (make tests/broker/ktx-broker tools/rdkafka-perf)" >&2
        exit 2
    fi
done

# shellcheck source=tools/bench-broker.sh
. "$(dirname "$0")/bench-broker.sh"
bench_start_broker broker-bench "$BROKER" --brokers 1 --auto-create "$PARTITIONS"
TICKS=$(getconf CLK_TCK)

# The broker's user and system CPU so far, in clock ticks.
broker_cpu() {
    awk '{ print $14, $15 }' "/proc/$PID/stat"
}

echo "ktx-broker $BOOTSTRAP, $(nproc) CPUs, $RUNS runs of $RECORDS records of 100 bytes, $PARTITIONS partitions"
run=1
while [ $run -le "$RUNS" ]; do
    set -- $(broker_cpu)
    u0=$1 s0=$2
    line=$("$PERF" -b "$BOOTSTRAP" -t bench -n "$RECORDS" -s 100 -p "$PARTITIONS" -q \
        -X acks=all -X linger.ms=5 -X batch.size=1000000 | tail -n 1)
    set -- $(broker_cpu)
    u1=$1 s1=$2
    rps=$(echo "$line" | sed -n 's/.*records_per_s=\([0-9]*\).*/\1/p')
    failed=$(echo "$line" | sed -n 's/.* failed=\([0-9]*\).*/\1/p')
    awk -v run="$run" -v rps="$rps" -v failed="$failed" -v n="$RECORDS" -v t="$TICKS" \
        -v u="$((u1 - u0))" -v s="$((s1 - s0))" 'BEGIN {
        cpu = (u + s) / t
        printf "run %d: client %d records/s (failed %d); broker CPU %.2f s (user %.2f, sys %.2f) = %.3f us/record, capacity %.0f records per broker CPU second\n",
            run, rps, failed, cpu, u / t, s / t, cpu * 1e6 / n, (cpu > 0 ? n / cpu : 0)
    }'
    run=$((run + 1))
done

command -v python3 >/dev/null 2>&1 || { echo "raw phase skipped: no python3"; exit 0; }
cat >"$WORK/raw.py" <<'PYEOF'
# Raw Produce replayer: python3 raw.py HOST:PORT RECORDS RECORDS_PER_BATCH TOPIC PARTITIONS
# (request i goes to partition i % PARTITIONS).
import socket, struct, sys, threading, time

def crc32c_table():
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        t.append(c)
    return t

def crc32c(data, t=crc32c_table()):
    c = 0xFFFFFFFF
    for b in data:
        c = t[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF

def varint(n):
    n = (n << 1) ^ (n >> 63)  # zigzag
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)

def batch(n, size):
    value = b'x' * size
    recs = bytearray()
    for i in range(n):
        body = b'\x00' + varint(0) + varint(i) + varint(-1) + varint(size) + value + varint(0)
        recs += varint(len(body)) + body
    after_crc = struct.pack('>hiqqqhii', 0, n - 1, 0, 0, -1, -1, -1, n) + recs
    head = struct.pack('>qiib', 0, 4 + 1 + 4 + len(after_crc), -1, 2)
    return head + struct.pack('>I', crc32c(after_crc)) + after_crc

host, port = sys.argv[1].split(':')
records, per_batch = int(sys.argv[2]), int(sys.argv[3])
b = batch(per_batch, 100)
topic, partitions = sys.argv[4].encode(), int(sys.argv[5])
def request(corr):
    body = struct.pack('>hhi', -1, -1, 30000) + struct.pack('>i', 1) + struct.pack('>h', len(topic)) + topic
    body += struct.pack('>i', 1) + struct.pack('>i', corr % partitions) + struct.pack('>i', len(b)) + b
    hdr = struct.pack('>hhi', 0, 7, corr) + struct.pack('>h', 3) + b'raw'
    return struct.pack('>i', len(hdr) + len(body)) + hdr + body
n_req = records // per_batch
s = socket.create_connection((host, int(port)))
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
reqs = [request(i) for i in range(n_req)]
def writer():
    for r in reqs:
        s.sendall(r)
t0 = time.monotonic()
th = threading.Thread(target=writer); th.start()
f = s.makefile('rb')
errors = 0
for i in range(n_req):
    size = struct.unpack('>i', f.read(4))[0]
    resp = f.read(size)
    # header: correlation id; body: topics[1] name, partitions[1] index, error_code
    pos = 4 + 4
    nlen = struct.unpack('>h', resp[pos:pos + 2])[0]
    pos += 2 + nlen + 4 + 4
    if struct.unpack('>h', resp[pos:pos + 2])[0] != 0:
        errors += 1
el = time.monotonic() - t0
th.join()
print("raw records=%d batches=%d errors=%d elapsed_s=%.3f records_per_s=%d" % (n_req * per_batch, n_req, errors, el, n_req * per_batch / el))
PYEOF
run=1
while [ $run -le "$RUNS" ]; do
    # A topic per run: each partition log has a 1 GiB ceiling.
    echo "topic bench-raw-$run $PARTITIONS 1" >&3
    sleep 0.2
    set -- $(broker_cpu)
    u0=$1 s0=$2
    line=$(python3 "$WORK/raw.py" "$BOOTSTRAP" "$RAW_RECORDS" 8000 "bench-raw-$run" "$PARTITIONS")
    set -- $(broker_cpu)
    u1=$1 s1=$2
    echo "raw run $run: $line broker_cpu_s=$(awk -v c="$((u1 - u0 + s1 - s0))" -v t="$TICKS" 'BEGIN { printf "%.2f", c / t }')"
    run=$((run + 1))
done

#!/usr/bin/env bash
# NetFlow side by side: the same NetFlow v9 export stream read by hoptrace (from a capture
# of the export datagrams) and by nfdump (from the nfcapd file nfcapd writes when the same
# datagrams are replayed to it over loopback). Prints hyperfine's table.
#
#   benches/netflow_vs_nfdump.sh [RECORDS] [WORKDIR]     (default 2000000, a temp dir)
#
# Needs nfcapd, nfdump, hyperfine and python3 (apt-get install nfdump hyperfine).
set -euo pipefail
records=${1:-2000000}
work=${2:-$(mktemp -d)}
mkdir -p "$work"
root=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/hoptrace-target}"
for t in nfcapd nfdump hyperfine python3; do
    command -v "$t" >/dev/null || { echo "netflow_vs_nfdump: $t is not installed" >&2; exit 2; }
done
cd "$root"
cargo build --release -q
hoptrace="$CARGO_TARGET_DIR/release/hoptrace"
"$CARGO_TARGET_DIR/release/hoptrace-generate" "$work/nf9.pcap" --netflow 9 --records "$records"

# Replay the datagrams to nfcapd on loopback (paced so that none is dropped).
mkdir -p "$work/nfcap"
nfcapd -p 39995 -w "$work/nfcap" -B 200000000 -t 3600 >"$work/nfcapd.log" 2>&1 &
pid=$!
sleep 1
python3 - "$work/nf9.pcap" 39995 <<'PY'
import socket, struct, sys, time
path, port = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
data = open(path, 'rb').read()
p, n = 24, 0
while p + 16 <= len(data):
    incl = struct.unpack_from('<I', data, p + 8)[0]
    # Ethernet (14) + IPv4 (20) + UDP (8) headers before the export datagram.
    s.sendto(data[p + 16 + 42:p + 16 + incl], ('127.0.0.1', port))
    n += 1
    if n % 200 == 0:
        time.sleep(0.002)
    p += 16 + incl
PY
sleep 2
kill -INT "$pid"; wait "$pid" || true
file=$(ls "$work"/nfcap/nfcapd.* | head -1)
grep -h "Flows:" "$work/nfcapd.log" || true

hyperfine -w 1 -r 5 \
    "$hoptrace flows $work/nf9.pcap -q -o /dev/null" \
    "$hoptrace flows $work/nf9.pcap -q --threads 1 -o /dev/null" \
    "nfdump -r $file -o csv > /dev/null" \
    "nfdump -r $file > /dev/null"

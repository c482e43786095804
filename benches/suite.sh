#!/usr/bin/env bash
# The end-to-end benchmark suite: generates deterministic capture sets with the project's
# generator, runs hoptrace (`flows`, `trace`) and every peer that is installed on the same
# files, and prints one table: time, packets/s, MB/s, peak memory, and each command's time
# as a ratio of hoptrace's `flows` on the same input; then hoptrace's thread scaling.
#
#   benches/suite.sh [--size tiny|small|full] [--big] [--runs N] [--dir DIR]
#                    [--hoptrace BIN] [--generate BIN] [--keep]
#
#   --size   the generator's --packets: tiny 300 (what the test runs), small 200 000,
#            full 1 500 000 (1.88 M packets, 0.9 GB: the README's table)  [default: small]
#   --big    also a set larger than this machine's memory (written to --dir, deleted after;
#            skipped with a message when the disk lacks room); its resident memory is
#            sampled each second through one more run and printed after the table
#   --runs   timed runs per command (hyperfine when installed, else a loop)   [default: 3]
#   --dir    where the sets are written                           [default: a temp dir]
#   --hoptrace, --generate   prebuilt binaries (default: cargo build --release)
#
# Peers, each when installed: cat (the page-cache floor), nfpcapd + nfdump, argus + ra,
# tshark -z conv, NFStream (python3 -c 'import nfstream'), gzip/pigz/libdeflate/zstd
# (decompression alone).
# apt-get install hyperfine nfdump argus-server argus-client tshark pigz libdeflate-tools zstd;
# pip install nfstream.
set -euo pipefail

size=small
runs=3
big=0
dir=""
keep=0
hoptrace=""
generate=""
while [ $# -gt 0 ]; do
    case "$1" in
        --size) size=$2; shift ;;
        --runs) runs=$2; shift ;;
        --big) big=1 ;;
        --dir) dir=$2; shift ;;
        --hoptrace) hoptrace=$2; shift ;;
        --generate) generate=$2; shift ;;
        --keep) keep=1 ;;
        -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
        *) echo "suite: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
case "$size" in
    tiny) packets=300 ;;
    small) packets=200000 ;;
    full) packets=1500000 ;;
    *) echo "suite: --size tiny, small or full, not $size" >&2; exit 2 ;;
esac

root=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "$hoptrace" ] || [ -z "$generate" ]; then
    export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/hoptrace-target}"
    (cd "$root" && cargo build --release -q --bins)
    hoptrace=${hoptrace:-$CARGO_TARGET_DIR/release/hoptrace}
    generate=${generate:-$CARGO_TARGET_DIR/release/hoptrace-generate}
fi
if [ -z "$dir" ]; then
    dir=$(mktemp -d)
    [ "$keep" = 1 ] || trap 'rm -rf "$dir"' EXIT
fi
mkdir -p "$dir"
have() { command -v "$1" >/dev/null 2>&1; }
cores=$(nproc 2>/dev/null || echo 1)

# ---- the sets -------------------------------------------------------------------------
echo "suite: writing the $size sets to $dir" >&2
"$generate" "$dir/set.pcap" --packets "$packets" --seed 1 >"$dir/set.pcap.json"
"$generate" "$dir/set.pcapng" --packets "$packets" --seed 1 --format pcapng >/dev/null
if have gzip; then gzip -1 -c "$dir/set.pcap" >"$dir/set.pcap.gz"; fi
if have zstd; then zstd -q -1 -c "$dir/set.pcap" >"$dir/set.pcap.zst"; fi
mkdir -p "$dir/set16"
for i in $(seq 1 16); do
    "$generate" "$dir/set16/part-$(printf %02d "$i").pcap" --packets $((packets / 16)) \
        --seed $((100 + i)) >/dev/null
done
records=$((packets / 4))
"$generate" "$dir/netflow9.pcap" --netflow 9 --records "$records" >/dev/null

# The sets were just written: flush them to disk first, or the kernel's writeback of about
# 2 GB runs during the first timings (it made the first row's runs vary by a third).
sync

# The number of packets (or records) in an input, from the generator's line.
json_field() { sed -n "s/.*\"$2\":\([0-9]*\).*/\1/p" "$1"; }
pkts=$(json_field "$dir/set.pcap.json" packets)

# A communication for `trace` to find: the first flow of the set.
first=$("$hoptrace" flows -q "$dir/set.pcap" --format csv | sed -n 2p)
trace_ip=$(echo "$first" | cut -d, -f6)
trace_port=$(echo "$first" | cut -d, -f7)

# ---- timing -----------------------------------------------------------------------------
# Each row: label, input, packets, command. Prints mean and standard deviation in seconds.
time_cmd() {
    if have hyperfine; then
        hyperfine -w 1 -r "$runs" -i --export-json "$dir/h.json" "$1" >/dev/null 2>&1 || true
        python3 - "$dir/h.json" <<'PY' 2>/dev/null || echo "nan nan"
import json, sys
r = json.load(open(sys.argv[1]))["results"][0]
print(f"{r['mean']:.4f} {r['stddev'] or 0:.4f}")
PY
    else
        local ts=()
        for _ in $(seq 1 "$runs"); do
            local a b
            a=$(date +%s.%N)
            bash -c "$1" >/dev/null 2>&1 || true
            b=$(date +%s.%N)
            ts+=("$(echo "$b - $a" | bc -l 2>/dev/null || awk "BEGIN{print $b-$a}")")
        done
        printf '%s\n' "${ts[@]}" | awk '{s+=$1; q+=$1*$1; n++} END {m=s/n; v=q/n-m*m; if (v<0) v=0; printf "%.4f %.4f\n", m, sqrt(v)}'
    fi
}
# Peak resident memory (MB) of one run, when GNU time is there.
peak_mb() {
    if [ -x /usr/bin/time ]; then
        /usr/bin/time -f %M bash -c "$1" 2>&1 >/dev/null | tail -1 | awk '{printf "%.0f", $1/1024}'
    else
        echo "—"
    fi
}

rows="$dir/rows.tsv"
: >"$rows"
# row LABEL INPUT PACKETS COMMAND
row() {
    local label=$1 input=$2 n=$3 cmd=$4
    local t sd mb rss
    read -r t sd < <(time_cmd "$cmd")
    rss=$(peak_mb "$cmd")
    mb=$(du -Lb "$input" 2>/dev/null | awk '{s+=$1} END {print s/1e6}')
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$label" "$(basename "$input")" "$n" "$t" "$sd" "$mb" "$rss" >>"$rows"
    echo "suite: $label on $(basename "$input"): ${t}s" >&2
}

H="$hoptrace"
P="$dir/set.pcap"
for input in "$P" "$dir/set.pcapng" "$dir/set.pcap.gz" "$dir/set.pcap.zst"; do
    [ -f "$input" ] || continue
    row "hoptrace flows" "$input" "$pkts" "$H flows -q '$input' -o /dev/null"
done
row "hoptrace flows" "$dir/set16" "$pkts" "$H flows -q $dir/set16/*.pcap -o /dev/null"
row "hoptrace flows --enrich" "$P" "$pkts" "$H flows -q --enrich '$P' -o /dev/null"
row "hoptrace trace" "$P" "$pkts" \
    "$H trace -q '$P' --party US --ip $trace_ip --port $trace_port -o /dev/null"
row "hoptrace flows (NetFlow v9)" "$dir/netflow9.pcap" "$records" \
    "$H flows -q '$dir/netflow9.pcap' -o /dev/null"
row "cat (page-cache floor)" "$P" "$pkts" "cat '$P'"
if have gzip && [ -f "$P.gz" ]; then row "gzip -dc" "$P.gz" "$pkts" "gzip -dc '$P.gz'"; fi
if have pigz && [ -f "$P.gz" ]; then row "pigz -dc" "$P.gz" "$pkts" "pigz -dc '$P.gz'"; fi
if have libdeflate-gunzip && [ -f "$P.gz" ]; then
    row "libdeflate-gunzip -c" "$P.gz" "$pkts" "libdeflate-gunzip -c '$P.gz'"
fi
if have zstd && [ -f "$P.zst" ]; then row "zstd -dc" "$P.zst" "$pkts" "zstd -q -dc '$P.zst'"; fi
if have nfpcapd && have nfdump; then
    mkdir -p "$dir/nf"
    row "nfpcapd + nfdump" "$P" "$pkts" \
        "rm -rf '$dir/nf'/*; nfpcapd -r '$P' -w '$dir/nf' && nfdump -R '$dir/nf' -q -o csv"
fi
if have argus && have ra; then
    row "argus + ra" "$P" "$pkts" "argus -r '$P' -w - | ra -r - -n"
fi
if have tshark; then
    row "tshark -z conv" "$P" "$pkts" "tshark -r '$P' -q -z conv,tcp -z conv,udp"
fi
if have python3 && python3 -c 'import nfstream' 2>/dev/null; then
    row "NFStream" "$P" "$pkts" \
        "python3 -c \"import nfstream; print(sum(1 for _ in nfstream.NFStreamer(source='$P')))\""
fi

# Thread scaling of `flows` on the pcap.
scale="$dir/scale.tsv"
: >"$scale"
for n in $(printf '%s\n' 1 2 "$cores" | sort -nu); do
    read -r t sd < <(time_cmd "$H flows -q --threads $n '$P' -o /dev/null")
    printf '%s\t%s\t%s\n' "$n" "$t" "$sd" >>"$scale"
done

# A set larger than memory: written, timed once, deleted.
if [ "$big" = 1 ]; then
    mem=$(awk '/MemTotal/ {printf "%.0f", $2 * 1024}' /proc/meminfo)
    want=$((mem + mem / 4))
    free=$(df -B1 --output=avail "$dir" | tail -1)
    if [ "$free" -lt $((want + want / 10)) ]; then
        echo "suite: --big skipped: $((want / 1000000000)) GB wanted, $((free / 1000000000)) GB free in $dir" >&2
    else
        bigp=$((want / 470)) # about 485 bytes per packet on disk
        "$generate" "$dir/big.pcap" --packets "$bigp" --seed 7 >"$dir/big.json"
        sync
        bp=$(json_field "$dir/big.json" packets)
        runs_save=$runs
        runs=1
        row "hoptrace flows (larger than memory)" "$dir/big.pcap" "$bp" \
            "$H flows -q '$dir/big.pcap' --spill-dir '$dir' --max-flows 1000000 -o /dev/null"
        runs=$runs_save
        # Resident memory through one more run, sampled each second: flat when what is
        # held is bounded by the live flows, not by the input.
        if [ -r /proc/self/status ]; then
            "$H" flows -q "$dir/big.pcap" --spill-dir "$dir" --max-flows 1000000 -o /dev/null &
            pid=$!
            : >"$dir/big-rss.txt"
            while kill -0 "$pid" 2>/dev/null; do
                awk '/^VmRSS/ {print $2}' "/proc/$pid/status" >>"$dir/big-rss.txt" 2>/dev/null || true
                sleep 1
            done
            wait "$pid" || true
            big_rss=$(awk 'NF {printf "%s%.0f", (n++ ? " " : ""), $1 / 1024}' "$dir/big-rss.txt")
        fi
        rm -f "$dir/big.pcap"
    fi
fi

# ---- the table ----------------------------------------------------------------------------
echo
echo "hoptrace benchmark suite: $size sets ($pkts packets), $runs run$([ "$runs" = 1 ] || echo s) each, $(date -u +%F), $cores cores"
printf '%-36s %-16s %16s %14s %10s %9s %12s\n' "command" "input" "time (s)" "packets/s" "MB/s" "peak MB" "× hoptrace"
awk -F'\t' '
    $1 == "hoptrace flows" && base[$2] == "" { base[$2] = $4 }
    { lines[NR] = $0 }
    END {
        ref = base["set.pcap"]
        for (i = 1; i <= NR; i++) {
            split(lines[i], f, "\t")
            b = (f[2] in base) ? base[f[2]] : ref
            if (f[2] ~ /\.gz$|\.zst$|\.pcapng$/) b = ref
            pps = (f[4] > 0) ? sprintf("%.2f M", f[3] / f[4] / 1e6) : "—"
            mbs = (f[4] > 0) ? sprintf("%.0f", f[6] / f[4]) : "—"
            ratio = (b > 0) ? sprintf("%.2f", f[4] / b) : "—"
            printf "%-36s %-16s %9.3f ± %-5.3f %12s %10s %9s %12s\n", f[1], f[2], f[4], f[5], pps, mbs, f[7], ratio
        }
    }' "$rows"
echo
echo "thread scaling (hoptrace flows, set.pcap):"
awk -F'\t' 'NR == 1 { one = $2 } { printf "  %s %s: %.3f s ± %.3f (%.2f× one thread)\n", $1, ($1 == 1 ? "thread" : "threads"), $2, $3, (one > 0 ? one / $2 : 0) }' "$scale"
if [ -n "${big_rss:-}" ]; then
    echo
    echo "resident memory of the larger-than-memory run, MB, each second: $big_rss"
fi
echo
echo "versions: $("$H" --version)$(have nfdump && echo "; $(nfdump -V 2>&1 | head -1)")$(have argus && echo "; argus $(argus -h 2>&1 | sed -n 's/.*Version \([0-9.]*\).*/\1/p' | head -1)")$(have tshark && echo "; $(tshark --version 2>/dev/null | head -1)")$(python3 -c 'import nfstream; print("; NFStream", nfstream.__version__)' 2>/dev/null)"

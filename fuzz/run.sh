#!/usr/bin/env bash
# Builds the libFuzzer targets on the stable toolchain with the coverage instrumentation
# cargo-fuzz uses (SanitizerCoverage; no AddressSanitizer, which needs nightly: the library's
# only unsafe code is three small blocks in ingest, see ARCHITECTURE.md), seeds each corpus
# from the project's fixtures and ../shared/data, and runs targets for a while.
#
#   fuzz/run.sh --build-only          build every target (what CI does)
#   fuzz/run.sh TARGET [SECONDS]      run one target (default 60 s); crashes land in
#                                     fuzz/artifacts/TARGET, the corpus in fuzz/corpus/TARGET
#   fuzz/run.sh all [SECONDS]         run every target in turn
#   fuzz/run.sh --keep TARGET         merge TARGET's corpus down and save it as
#                                     fuzz/seeds/TARGET.tar.gz (committed)
#
# fuzz/seeds/ keeps, in the repository, the corpora of the targets whose inputs derive only
# from the project's own seeds (frames, headers, tables), merged down to the inputs that
# add coverage: an empty corpus starts from them on any machine, so coverage accumulates
# across machines. The other targets are seeded from ../shared/data, whose captures and
# databases stay there: their corpora are not kept.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
shared=${HOPTRACE_SHARED_DATA:-$root/../shared/data}
targets=(capture frames netflow text_log headers database tables trace)
own=(frames headers tables)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}/fuzz
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
# An explicit --target keeps RUSTFLAGS off build scripts and proc macros (as cargo-fuzz does).
host=$(rustc -vV | sed -n 's/^host: //p')
cargo build --release --locked --manifest-path "$here/Cargo.toml" --bins --target "$host"
bin=$CARGO_TARGET_DIR/$host/release
[ "${1:-}" = "--build-only" ] && exit 0

seed() { # target -> fills fuzz/corpus/target from fixtures when empty
    local t=$1 c=$here/corpus/$1
    mkdir -p "$c"
    [ -n "$(ls -A "$c")" ] && return 0
    if [ -f "$here/seeds/$t.tar.gz" ]; then
        tar -xzf "$here/seeds/$t.tar.gz" -C "$c"
        return 0
    fi
    case $t in
    capture | trace)
        find "$root/testdata" "$shared/captures" -type f \
            \( -name '*.pcap' -o -name '*.pcapng' -o -name '*.cap' -o -name '*.gz' -o -name '*.zst' \
               -o -name '*.log' -o -name '*.eml' \) -size -2M -exec cp -t "$c" {} + 2>/dev/null || true ;;
    database)
        find "$shared/maxmind-test/test-data" -name '*.mmdb' -size -200k -exec cp -t "$c" {} + 2>/dev/null || true ;;
    tables)
        cp "$root/data/jurisdictions.csv" "$root/data/providers.example.csv" "$c" ;;
    text_log)
        local i=0
        for f in $(find "$shared" "$root/testdata" -type f \( -name '*.log' -o -name '*.csv' -o -name '*.json' \) -size -200k 2>/dev/null | head -40); do
            for fmt in 0 1 2 3 4 5 6; do
                { printf "\\x$(printf %02x $fmt)"; cat "$f"; } > "$c/seed-$i-$fmt"
            done
            i=$((i + 1))
        done ;;
    headers)
        # The project's own seeds only (its corpus is kept in fuzz/seeds/).
        printf 'GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 203.0.113.9, 198.51.100.2\r\nForwarded: for="[2001:db8::1]:80";by=_hidden\r\nVia: 1.1 p\r\n\r\n' > "$c/http"
        printf 'HTTP/1.1 200 OK\r\nVia: 1.1 edge (squid), 1.0 198.51.100.7:8080\r\nContent-Length: 0\r\n\r\n' > "$c/response"
        printf 'Received: from relay.example (relay.example [198.51.100.25])\r\n\tby mx.example with ESMTPS id 4Xa; Mon, 07 Dec 2026 08:00:00 +0000\r\nReceived: from [192.0.2.7] (helo=laptop) by relay.example; Mon, 7 Dec 2026 07:59:58 +0100\r\nSubject: s\r\n\r\nbody\r\n' > "$c/mail"
        printf 'EHLO laptop\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nDATA\r\nReceived: from [2001:db8::7] by relay.example; Mon, 7 Dec 2026 08:00:00 +0000\r\n\r\nhi\r\n.\r\nQUIT\r\n' > "$c/smtp" ;;
    netflow)
        # Raw export datagrams, and each template file followed by its data file (the
        # collector keeps template state across the datagrams of one input).
        local d=$shared/captures/netflow-export-payloads
        find "$d" -maxdepth 1 -name '*.dat' -size -200k -exec cp -t "$c" {} + 2>/dev/null || true
        for tpl in "$d"/*_tpl.dat; do
            [ -f "$tpl" ] && [ -f "${tpl%_tpl.dat}_data.dat" ] &&
                cat "$tpl" "${tpl%_tpl.dat}_data.dat" > "$c/$(basename "${tpl%_tpl.dat}")-both"
        done
        printf '\x00' > "$c/empty" ;;
    *) printf '\x00' > "$c/empty" ;;
    esac
}

run() { # target seconds
    seed "$1"
    mkdir -p "$here/artifacts/$1"
    # -reload=0: the corpus directory is written by this process alone; reloading it lists
    # and stats every file in it each second (tens of thousands for capture: half of that
    # target's time went to the kernel's path lookups).
    "$bin/$1" "$here/corpus/$1" -max_total_time="$2" -max_len=1048576 -reload=0 \
        -rss_limit_mb=4096 -timeout=10 -artifact_prefix="$here/artifacts/$1/" -print_final_stats=1
}

keep() { # target: merges its corpus into fuzz/seeds/target (the inputs that add coverage)
    case " ${own[*]} " in *" $1 "*) ;; *)
        echo "fuzz: only ${own[*]} keep their corpus (the others derive from ../shared/data)" >&2
        exit 2 ;;
    esac
    local m
    m=$(mktemp -d)
    "$bin/$1" -merge=1 -max_len=1048576 "$m" "$here/corpus/$1"
    mkdir -p "$here/seeds"
    # The same inputs give the same bytes (names are the inputs' SHA-1).
    tar -C "$m" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf - . |
        gzip -n -9 > "$here/seeds/$1.tar.gz"
    echo "fuzz: $(ls "$m" | wc -l) inputs kept in fuzz/seeds/$1.tar.gz" >&2
    rm -rf "$m"
}

if [ "${1:-}" = --keep ]; then
    keep "${2:?target: ${own[*]}}"
elif [ "${1:-}" = all ]; then
    failed=0
    for t in "${targets[@]}"; do run "$t" "${2:-60}" || { echo "fuzz: $t stopped on a finding"; failed=1; }; done
    exit $failed
else
    run "${1:?target: ${targets[*]} or all}" "${2:-60}"
fi

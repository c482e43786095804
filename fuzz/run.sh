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
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
shared=${HOPTRACE_SHARED_DATA:-$root/../shared/data}
targets=(capture frames netflow text_log headers database tables)
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
    case $t in
    capture)
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
        find "$root/testdata" "$shared" -type f -name '*.eml' -size -200k -exec cp -t "$c" {} + 2>/dev/null || true
        printf 'GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 203.0.113.9, 198.51.100.2\r\nForwarded: for="[2001:db8::1]:80";by=_hidden\r\nVia: 1.1 p\r\n\r\n' > "$c/http" ;;
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

if [ "${1:-}" = all ]; then
    failed=0
    for t in "${targets[@]}"; do run "$t" "${2:-60}" || { echo "fuzz: $t stopped on a finding"; failed=1; }; done
    exit $failed
else
    run "${1:?target: ${targets[*]} or all}" "${2:-60}"
fi

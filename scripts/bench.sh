#!/usr/bin/env bash
# The 100,000-row hunting job benchmark (docs/performance.md, "The 100,000-row hunting job").
# (`scripts/bench/` holds its parts: the Python job, the Markdown template, the playbook.)
#
# Builds the release examples, starts a loopback server that answers the token endpoint and
# Graph runHuntingQuery with a pre-built 100,000 x 12 response (~53 MB), then times each job
# RUNS times under /usr/bin/time -v and prints the median wall time and peak RSS:
#   rust-job       token -> hunt -> $[?@.AccountName != 'system'] -> CSV + Markdown (huntbook's rows code)
#   python-job     the same job with requests + jsonpath-ng + csv + jinja2 (scripts/bench/job.py)
#   parse-*        parse only: serde_json::Value, serde_json IgnoredAny, huntbook's RowSet (saved body)
#   huntbook-run   `huntbook run scripts/bench/playbook.yaml`: the product itself (BENCH_HUNTBOOK_RUN=0 skips it)
#
# Usage: scripts/bench.sh            (from anywhere; it changes to the repository root)
# Env:   RUNS (default 7), ROWS (default 100000), BENCH_HUNTBOOK_RUN (default 1)
# Needs: cargo, python3 (a venv with the Python job's packages is made under target/bench),
#        GNU time at /usr/bin/time.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-7}
ROWS=${ROWS:-100000}
WORK=target/bench
TEMPLATE=scripts/bench/summary.md.j2
mkdir -p "$WORK/out-rust" "$WORK/out-python" "$WORK/out-run"

if [[ ! -x /usr/bin/time ]]; then
    echo "error: GNU time (/usr/bin/time) is needed: apt-get install time" >&2
    exit 2
fi

cargo build --release --quiet --example bench_server --example hunt_job --example bench_parse
if [[ "${BENCH_HUNTBOOK_RUN:-1}" == 1 ]]; then
    cargo build --release --quiet --bin huntbook
fi

if [[ ! -x "$WORK/venv/bin/python" ]]; then
    python3 -m venv "$WORK/venv"
    "$WORK/venv/bin/pip" install --quiet requests jsonpath-ng jinja2
fi

target/release/examples/bench_server --rows "$ROWS" --write-body "$WORK/response.json" \
    --max-seconds 1800 >"$WORK/server.log" 2>&1 &
SERVER=$!
trap 'kill "$SERVER" 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do
    grep -q '^listening' "$WORK/server.log" && break
    sleep 0.1
done
URL=$(sed -n 's/^listening \(http:[^ ]*\).*/\1/p' "$WORK/server.log")
if [[ -z "$URL" ]]; then
    echo "error: the bench server did not start" >&2
    cat "$WORK/server.log" >&2
    exit 1
fi

echo "server: $(cat "$WORK/server.log")"
echo "machine: $(nproc) cores; load before: $(cut -d' ' -f1-3 /proc/loadavg)"

RESULTS="$WORK/results.tsv"
: >"$RESULTS"


# measure LABEL CMD...: one warm-up run, then RUNS timed runs.
measure() {
    local label=$1
    shift
    : >"$WORK/$label.err"
    "$@" >/dev/null 2>>"$WORK/$label.err"
    for _ in $(seq 1 "$RUNS"); do
        /usr/bin/time -v -o "$WORK/time.txt" "$@" >/dev/null 2>>"$WORK/$label.err"
        local wall rss user sys
        wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$WORK/time.txt")
        rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$WORK/time.txt")
        user=$(sed -n 's/.*User time (seconds): //p' "$WORK/time.txt")
        sys=$(sed -n 's/.*System time (seconds): //p' "$WORK/time.txt")
        printf '%s\t%s\t%s\t%s\t%s\n' "$label" "$wall" "$rss" "$user" "$sys" >>"$RESULTS"
    done
}

measure rust-job target/release/examples/hunt_job "$URL" "$WORK/out-rust" "$TEMPLATE"
measure python-job "$WORK/venv/bin/python" scripts/bench/job.py "$URL" "$WORK/out-python" "$TEMPLATE"
measure parse-serde-value target/release/examples/bench_parse value "$WORK/response.json"
measure parse-serde-ignored target/release/examples/bench_parse ignored "$WORK/response.json"
measure parse-rowset target/release/examples/bench_parse rowset "$WORK/response.json"
if [[ "${BENCH_HUNTBOOK_RUN:-1}" == 1 ]]; then
    measure huntbook-run env HUNTBOOK_LOGIN_URL="$URL" HUNTBOOK_GRAPH_URL="$URL" \
        AZURE_TENANT_ID=bench-tenant AZURE_CLIENT_ID=00000000-0000-0000-0000-00000000b0b0 \
        BENCH_CLIENT_SECRET=bench-secret BENCH_OUT="$WORK/out-run" \
        target/release/huntbook run scripts/bench/playbook.yaml
fi

echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
if cmp -s "$WORK/out-rust/noisy.csv" "$WORK/out-python/noisy.csv" &&
    cmp -s "$WORK/out-rust/summary.md" "$WORK/out-python/summary.md"; then
    echo "outputs: the Rust and Python jobs wrote byte-identical CSV and Markdown"
else
    echo "warning: the Rust and Python outputs differ" >&2
fi
if [[ "${BENCH_HUNTBOOK_RUN:-1}" == 1 ]]; then
    if cmp -s "$WORK/out-rust/noisy.csv" "$WORK/out-run/noisy.csv" &&
        cmp -s "$WORK/out-rust/summary.md" "$WORK/out-run/summary.md"; then
        echo "outputs: huntbook run wrote the same CSV and Markdown"
    else
        echo "warning: huntbook run's outputs differ from the reference job's" >&2
    fi
fi
echo "rust job, last run: $(tail -n 1 "$WORK/rust-job.err")"
echo "parse-only, last runs:"
for m in parse-serde-value parse-serde-ignored parse-rowset; do
    echo "  $(tail -n 1 "$WORK/$m.err")"
done
echo

python3 - "$RESULTS" <<'EOF'
import statistics, sys
def secs(t):
    parts = [float(p) for p in t.split(":")]
    return sum(p * 60 ** i for i, p in enumerate(reversed(parts)))
rows = {}
for line in open(sys.argv[1]):
    label, wall, rss, user, sys_ = line.rstrip("\n").split("\t")
    rows.setdefault(label, []).append((secs(wall), int(rss) / 1024, float(user) + float(sys_)))
print("| job | median wall (s) | min–max wall (s) | median CPU user+sys (s) | median peak RSS (MB) | runs |")
print("|---|---|---|---|---|---|")
for label, vals in rows.items():
    walls = [v[0] for v in vals]
    rss = [v[1] for v in vals]
    cpu = [v[2] for v in vals]
    print(f"| {label} | {statistics.median(walls):.2f} | {min(walls):.2f}–{max(walls):.2f} "
          f"| {statistics.median(cpu):.2f} | {statistics.median(rss):.0f} | {len(vals)} |")
EOF

#!/usr/bin/env bash
# Every figure of BENCHMARKS.md in one command:
#   benches/run.sh                 # all of it (~25 min on 2 cores, plus the builds)
#   BENCH_RUNS=3 BENCH_SECONDS=1 benches/run.sh      # a quicker, rougher pass
#   BENCH_PHASES=http benches/run.sh                 # only some of the harness phases (http,evidence,startup)
#   BENCH_SKIP_DIST=1 benches/run.sh                 # skip the second (fat LTO) build for the binary size
#   BENCH_ENDPOINTS=tests_create,login BENCH_PHASES=http benches/run.sh   # some endpoints (names: harness.py)
# Needs ../shared/data/attack/ beside the checkout (or AEGIS_BENCH_BUNDLE), wrk (installed with apt-get if
# missing), python3 (the FastAPI peer gets a venv under target/bench/). Results: target/bench/results.{md,json}
# and the criterion reports under target/criterion/.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

bundle=${AEGIS_BENCH_BUNDLE:-../shared/data/attack/enterprise-attack.json.gz}
if [ ! -f "$bundle" ]; then
    echo "skipping the benchmarks: $bundle not found (the real ATT&CK data lives in ../shared/data/attack/)"
    exit 0
fi
out=target/bench
mkdir -p "$out"

echo "== tools"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
command -v curl >/dev/null || { apt-get update -qq && apt-get install -y -qq curl >/dev/null; }
if [ ! -x "$out/venv/bin/python" ]; then python3 -m venv "$out/venv"; fi
"$out/venv/bin/pip" install --quiet --disable-pip-version-check -r benches/peer/requirements.txt

echo "== build (release)"
cargo build --release --locked --bin aegis --example bench-prepare --example bench-ceiling
dist=""
if [ -z "${BENCH_SKIP_DIST:-}" ]; then
    echo "== build (dist profile: fat LTO, stripped; for the binary size)"
    cargo build --profile dist --locked --bin aegis
    dist=target/dist/aegis
fi

echo "== ATT&CK sync (import and re-sync vs a bare serde_json parse)"
AEGIS_BENCH_BUNDLE="$bundle" cargo bench --locked --bench attack_sync | tee "$out/attack_sync.md"

echo "== in-process pieces (criterion)"
AEGIS_BENCH_BUNDLE="$bundle" cargo bench --locked --bench inprocess | tee "$out/inprocess.txt"

echo "== HTTP, evidence, start-up (wrk over loopback; the ceiling server; the FastAPI peer)"
"$out/venv/bin/python" benches/http/harness.py \
    --aegis target/release/aegis ${dist:+--dist "$dist"} \
    --prepare target/release/examples/bench-prepare --ceiling target/release/examples/bench-ceiling \
    --peer-python "$out/venv/bin/python" --bundle "$bundle" \
    --work "$out/work" --out "$out" \
    --runs "${BENCH_RUNS:-5}" --seconds "${BENCH_SECONDS:-2}" --phases "${BENCH_PHASES:-http,evidence,startup}"
echo "== results: $out/results.md, $out/attack_sync.md, $out/inprocess.txt"

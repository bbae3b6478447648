#!/usr/bin/env bash
# Fuzzes the running API against its own OpenAPI document with schemathesis (all checks), once
# anonymously and once with a token for each role. Exits non-zero on any failure or server error.
#   AEGIS_BIN       the binary to run (default target/debug/aegis)
#   FUZZ_EXAMPLES   examples per operation and phase (default 20)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${AEGIS_BIN:-target/debug/aegis}
EXAMPLES=${FUZZ_EXAMPLES:-20}
work=$(mktemp -d)
server_pid=""
cleanup() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

# A small catalogue so stateful tests reach real techniques.
bundle="$work/bundle.json"
python3 - "$bundle" <<'PY'
import json, sys
tactics = [("initial-access", "TA0001", "Initial Access"), ("execution", "TA0002", "Execution")]
objects = [{"type": "x-mitre-tactic", "id": f"x-mitre-tactic--{i}", "name": n, "x_mitre_shortname": s,
            "external_references": [{"source_name": "mitre-attack", "external_id": i}]} for s, i, n in tactics]
objects.append({"type": "x-mitre-matrix", "id": "x-mitre-matrix--1", "name": "m",
                "tactic_refs": [f"x-mitre-tactic--{i}" for _, i, _ in tactics]})
for tid, name, tactic in [("T1566", "Phishing", "initial-access"), ("T1059", "Command and Scripting Interpreter", "execution"),
                          ("T1059.001", "PowerShell", "execution")]:
    objects.append({"type": "attack-pattern", "id": f"attack-pattern--{tid}", "name": name, "description": name,
                    "kill_chain_phases": [{"kill_chain_name": "mitre-attack", "phase_name": tactic}],
                    "x_mitre_platforms": ["Windows", "Linux"], "x_mitre_is_subtechnique": "." in tid,
                    "external_references": [{"source_name": "mitre-attack", "external_id": tid}]})
json.dump({"type": "bundle", "id": "bundle--fuzz", "spec_version": "2.1", "objects": objects}, open(sys.argv[1], "w"))
PY

export AEGIS_DATA_DIR="$work/data" AEGIS_BIND=127.0.0.1:0 AEGIS_ADMIN_PASSWORD=fuzz-admin-password \
       AEGIS_JWT_SECRET=fuzz-secret-fuzz-secret-fuzz-secret AEGIS_MITRE_SOURCE="$bundle" AEGIS_INTEL_FEEDS="" \
       AEGIS_MITRE_SYNC_CRON="" AEGIS_INTEL_SCAN_CRON="" RUST_LOG=warn
"$BIN" serve > "$work/server.out" 2> "$work/server.err" &
server_pid=$!
for _ in $(seq 1 100); do
  base=$(grep -o 'listening on http://[0-9.:]*' "$work/server.out" 2>/dev/null | sed 's/listening on //' || true)
  [ -n "$base" ] && break
  sleep 0.2
done
[ -n "$base" ] || { cat "$work/server.err"; echo "fuzz: the server did not start"; exit 1; }

login() {
  curl -sf -X POST "$base/api/v1/auth/login" --data-urlencode "username=$1" --data-urlencode "password=$2" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}
roles="viewer blue_tech blue_lead red_tech red_lead admin"   # admin last: its run may change other users
declare -A tokens
for role in $roles; do
  if [ "$role" = admin ]; then
    tokens[$role]=$(login admin fuzz-admin-password)
  else
    echo "fuzz-$role-password" | "$BIN" user create --username "fuzz-$role" --role "$role" --password-stdin > /dev/null
    tokens[$role]=$(login "fuzz-$role" "fuzz-$role-password")
  fi
done

status=0
summary=""
passed=0
failed=0
for who in anonymous $roles; do
  header=()
  [ "$who" != anonymous ] && header=(-H "Authorization: Bearer ${tokens[$who]}")
  echo "== schemathesis as $who"
  set +e
  st run "$base/openapi.json" "${header[@]}" --checks all --max-examples "$EXAMPLES" --seed 20261204 \
     --workers 2 --request-timeout 30 --no-color > "$work/st-$who.txt" 2>&1
  code=$?
  set -e
  cases=$(grep -Eo '[0-9]+ generated' "$work/st-$who.txt" | head -1 | grep -Eo '[0-9]+' || echo "?")
  tail -25 "$work/st-$who.txt"
  if [ $code -ne 0 ]; then status=1; failed=$((failed + 1)); cat "$work/st-$who.txt"; else passed=$((passed + 1)); fi
  summary+="schemathesis: $who: $cases test cases, exit $code"$'\n'
done
if grep -q "internal error" "$work/server.err"; then
  echo "fuzz: the server logged internal errors:"; grep -B2 -A2 "internal error" "$work/server.err"; status=1
fi
printf '%s' "$summary"
echo "fuzz: $passed passed, $failed failed"
exit $status

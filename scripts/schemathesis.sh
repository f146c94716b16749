#!/usr/bin/env bash
# Contract test: the real server against its own OpenAPI document, with every
# schemathesis check (status codes, content types, headers, response schemas,
# negative and positive data, missing auth, unsupported methods, stateful links).
#
#   scripts/schemathesis.sh                 # build, start, test, stop
#   MAX_EXAMPLES=50 MAX_TIME=600 scripts/schemathesis.sh
#   SKIP_BUILD=1 scripts/schemathesis.sh    # use target/debug/intervene as it is
#   KEEP=1 scripts/schemathesis.sh          # keep the temp dir (server.log, data, report)
#
# Loopback only: the server binds 127.0.0.1 on a free port, with a temp data dir and a
# temp copy of rules/, one admin key (so the auth checks see 401s), and a webhook
# secret. The run is bounded by MAX_EXAMPLES per operation and MAX_TIME seconds in all.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

SCHEMATHESIS_VERSION=4.32.5
MAX_EXAMPLES=${MAX_EXAMPLES:-15}
MAX_TIME=${MAX_TIME:-180}
SEED=${SEED:-}
VENV=${SCHEMATHESIS_VENV:-$ROOT/target/schemathesis-venv}
BIN=$ROOT/target/debug/intervene
KEY=schemathesis-admin-key-0001

say() { printf 'schemathesis.sh: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

# --- schemathesis, pinned, in its own virtualenv ---------------------------------------
ST=$VENV/bin/schemathesis
if ! "$ST" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
  say "installing schemathesis $SCHEMATHESIS_VERSION into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

# --- build -----------------------------------------------------------------------------
if [[ -z ${SKIP_BUILD:-} ]]; then
  cargo build --locked --bin intervene
fi
[[ -x $BIN ]] || die "no $BIN (build failed, or SKIP_BUILD=1 without a build)"

# --- temporary directory, cleanup ------------------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/intervene-schemathesis.XXXXXX")
SERVER_PID=""
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
  fi
  if [[ $rc -eq 0 && -z ${KEEP:-} ]]; then
    rm -rf "$WORK"
  else
    say "kept $WORK (server.log, data/, rules/, report/)"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

cp -R "$ROOT/rules" "$WORK/rules"
HASH=$(printf '%s' "$KEY" | sha256sum | cut -d' ' -f1)
cat > "$WORK/config.yaml" <<YAML
api_keys:
  - name: schemathesis
    role: admin
    sha256: "$HASH"
YAML

# --- start the server on a free loopback port ------------------------------------------
port_in_use() {
  local hex
  hex=$(printf '%04X' "$1")
  awk -v h="$hex" 'FNR > 1 { split($2, a, ":"); if (a[2] == h) found = 1 } END { exit !found }' \
    /proc/net/tcp /proc/net/tcp6 2>/dev/null
}
free_port() {
  local p
  for _ in $(seq 1 100); do
    p=$(( 20000 + RANDOM % 12000 ))
    port_in_use "$p" || { echo "$p"; return; }
  done
  die "found no free port"
}
BASE=""
for attempt in 1 2 3 4 5; do
  PORT=$(free_port)
  INTERVENE_WEBHOOK_SECRET=schemathesis-webhook-secret \
    "$BIN" serve --config "$WORK/config.yaml" --bind "127.0.0.1:$PORT" --data "$WORK/data" \
    --rules "$WORK/rules" --log-format text > "$WORK/server.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 300); do
    kill -0 "$SERVER_PID" 2>/dev/null || break
    if curl -fsS -o /dev/null "http://127.0.0.1:$PORT/healthz" 2>/dev/null; then
      BASE="http://127.0.0.1:$PORT"
      break
    fi
    sleep 0.1
  done
  [[ -n $BASE ]] && break
  if ! kill -0 "$SERVER_PID" 2>/dev/null && grep -q "cannot bind" "$WORK/server.log" && (( attempt < 5 )); then
    SERVER_PID=""
    continue
  fi
  cat "$WORK/server.log" >&2
  die "the server did not answer GET /healthz within 30 s"
done
say "server: pid $SERVER_PID on $BASE"

# A few records, so the student, report, replay and preview operations have data.
curl -fsS -o /dev/null -H "Authorization: Bearer $KEY" -H 'Content-Type: application/x-ndjson' \
  --data-binary @<(head -n 20 "$ROOT/fixtures/caseload.ndjson") "$BASE/v1/students/import" \
  || die "could not import the seed records"

# --- run -------------------------------------------------------------------------------
seed_args=()
[[ -n $SEED ]] && seed_args=(--seed "$SEED")
say "schemathesis $SCHEMATHESIS_VERSION: every check, $MAX_EXAMPLES examples per operation, at most $MAX_TIME s"
status=0
# From the temp dir: schemathesis keeps a cache in the working directory.
cd "$WORK"
SCHEMATHESIS_HOOKS=schemathesis_hooks PYTHONPATH="$ROOT/scripts" timeout --kill-after=10 "$((MAX_TIME + 120))" \
  "$ST" --config-file "$ROOT/scripts/schemathesis.toml" run "$BASE/openapi.json" \
  --checks all \
  --max-examples "$MAX_EXAMPLES" \
  --max-time "$MAX_TIME" \
  --request-timeout 30 \
  --workers 1 \
  --header "Authorization: Bearer $KEY" \
  --generation-database none \
  --no-color \
  --report junit --report-dir "$WORK/report" \
  "${seed_args[@]}" || status=$?

kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log" >&2; die "the server died during the run"; }
if grep -q "panicked" "$WORK/server.log"; then
  grep -n -A5 "panicked" "$WORK/server.log" >&2
  die "the server panicked during the run"
fi
[[ $status -eq 0 ]] || die "schemathesis found problems (exit $status)"
say "clean"

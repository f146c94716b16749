#!/usr/bin/env bash
# Load benchmark of `intervene serve` on loopback. See scripts/README.md.
#
#   scripts/load.sh                    # N=20000 requests per scenario, C=32 connections
#   N=5000 C=16 scripts/load.sh
#   RESULTS_TSV=/tmp/load.tsv scripts/load.sh   # also append one row per scenario
#
# It builds the release binary, starts it on a free port of 127.0.0.1 with a
# fresh temporary data directory, drives it with wrk from a second process, stops it with
# SIGTERM and checks the audit chain with `intervene audit verify`. Nothing leaves
# loopback. Exit status 0 only when there were no request errors and the chain verifies
# with the expected number of entries.
set -euo pipefail

N=${N:-20000}                 # requests per scenario (bounded: wrk stops each thread at its share)
C=${C:-32}                    # open connections
THREADS=${THREADS:-2}         # wrk threads
WARMUP=${WARMUP:-2000}        # dry-run, then durable, requests before the measured scenarios (0: none)
MAX_SECONDS=${MAX_SECONDS:-120}   # hard cap per scenario, in case the server stalls
TIMEOUT=${TIMEOUT:-10s}       # a request slower than this counts as an error (timeout)
BODIES=${BODIES:-300}         # how many fixture records to cycle through as bodies
STUDENTS=${STUDENTS:-10000}   # students the webhook scenarios send events for
SKIP_BUILD=${SKIP_BUILD:-}    # 1: use the existing target/release/intervene
[[ -n ${BIN:-} ]] && SKIP_BUILD=1
KEEP=${KEEP:-}                # 1: keep the temporary directory (data, server log, wrk output)
RESULTS_TSV=${RESULTS_TSV:-}  # file to append one tab-separated row per scenario to

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
BIN=${BIN:-$ROOT/target/release/intervene}   # another binary (e.g. an older build) to compare; implies SKIP_BUILD
FIXTURE=$ROOT/fixtures/caseload.ndjson
HOST=127.0.0.1

say() { printf '%s\n' "$*"; }
die() { printf 'load.sh: %s\n' "$*" >&2; exit 1; }

# The HMAC secret of this run's server (never leaves the machine).
WEBHOOK_SECRET=${WEBHOOK_SECRET:-load-$RANDOM$RANDOM$RANDOM}
for v in N C THREADS WARMUP MAX_SECONDS BODIES STUDENTS; do
  [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a whole number, got \`${!v}\`"
done
(( THREADS >= 1 && C >= THREADS )) || die "need THREADS >= 1 and C >= THREADS (wrk gives each thread C/THREADS connections)"
(( N >= THREADS )) || die "need N >= THREADS"
(( BODIES >= 1 )) || die "BODIES must be at least 1"

# --- tools -----------------------------------------------------------------------------
# oha is not packaged in Debian 12 (`apt-cache policy oha` has no candidate); wrk is, and
# its Lua hooks let us bound the request count and cycle through many bodies.
APT_UPDATED=""
apt_install() {
  command -v apt-get >/dev/null || die "\`$1\` is missing and there is no apt-get here: install $1 and rerun"
  local sudo=()
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || die "\`$1\` is missing: install it (apt-get install $1) as root and rerun"
    sudo=(sudo)
  fi
  if [[ -z $APT_UPDATED ]]; then
    "${sudo[@]}" apt-get update -qq
    APT_UPDATED=1
  fi
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >/dev/null
}
need() { command -v "$1" >/dev/null || { say "installing $1 (apt)"; apt_install "$1"; }; }
need wrk
need curl
command -v cargo >/dev/null || die "cargo is missing (install Rust with rustup)"
[[ -f $FIXTURE ]] || die "missing $FIXTURE"

# --- build -----------------------------------------------------------------------------
if [[ -z $SKIP_BUILD ]]; then
  say "building: cargo build --release (and the webhook event generator)"
  cargo build --release --bin intervene --example webhook_events
fi
[[ -x $BIN ]] || die "no $BIN (build failed, or SKIP_BUILD=1 without a build)"
EVENTS_BIN=$ROOT/target/release/examples/webhook_events
[[ -x $EVENTS_BIN ]] || die "no $EVENTS_BIN (build failed, or SKIP_BUILD=1 without a build)"

# --- temporary directory, cleanup ------------------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/intervene-load.XXXXXX")
DATA=$WORK/data
SERVER_PID=""
WRK_PID=""
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ -n $WRK_PID ]] && kill -0 "$WRK_PID" 2>/dev/null; then
    kill "$WRK_PID" 2>/dev/null || true
  fi
  if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
  fi
  if [[ $rc -eq 0 && -z $KEEP ]]; then
    rm -rf "$WORK"
  else
    printf 'load.sh: kept %s (server.log, data/, *.wrk)\n' "$WORK" >&2
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Bodies: the first BODIES records of the fixture, one JSON document a line; wrk cycles
# through them so the audit indexes see many students, not one.
head -n "$BODIES" "$FIXTURE" | grep -v '^[[:space:]]*$' > "$WORK/bodies.ndjson"
head -n 1 "$WORK/bodies.ndjson" > "$WORK/body.json"

# The wrk script: pre-formatted requests, a per-thread request quota (the thread stops
# itself once it has that many responses), one RESULT line at the end.
cat > "$WORK/load.lua" <<'LUA'
local method = os.getenv("LOAD_METHOD") or "GET"
local path = os.getenv("LOAD_PATH") or "/"
local bodies_file = os.getenv("LOAD_BODIES") or ""
local header_lines = os.getenv("LOAD_HEADERS") or ""
local total = tonumber(os.getenv("LOAD_N"))
local nthreads = tonumber(os.getenv("LOAD_THREADS"))
-- LOAD_SIGNED=1: lines are `<signature>\t<body>`, each sent once across all threads.
local signed = os.getenv("LOAD_SIGNED") == "1"

local threads = {}
local next_id = 0
function setup(thread)
  local q = math.floor(total / nthreads)
  if next_id < total % nthreads then q = q + 1 end
  thread:set("id", next_id)
  thread:set("quota", q)
  next_id = next_id + 1
  table.insert(threads, thread)
end

local reqs = {}
local i = 0
local got = 0
function init(args)
  local base = {}
  for line in string.gmatch(header_lines, "[^\n]+") do
    local k, v = line:match("^%s*([^:]+):%s*(.-)%s*$")
    if k then base[k] = v end
  end
  local function fmt(body, signature)
    local h = {}
    for k, v in pairs(base) do h[k] = v end
    if body and not h["Content-Type"] then h["Content-Type"] = "application/json" end
    if signature then h["X-Intervene-Signature"] = signature end
    return wrk.format(method, path, h, body)
  end
  -- LOAD_SIGNED=1: each line is `<signature>\t<body>` (signed webhook events).
  if bodies_file ~= "" then
    local f = assert(io.open(bodies_file, "r"))
    for line in f:lines() do
      if line:match("%S") then
        if signed then
          local sig, body = line:match("^([^\t]+)\t(.*)$")
          reqs[#reqs + 1] = fmt(body, sig)
        else
          reqs[#reqs + 1] = fmt(line)
        end
      end
    end
    f:close()
  end
  if #reqs == 0 then reqs[1] = fmt(nil) end
  if signed then
    i = id + 1 - nthreads   -- thread k sends lines k+1, k+1+T, ...: each event once
  else
    i = (id * 97) % #reqs   -- threads start at different records
  end
end

function request()
  if signed then
    i = i + nthreads
    return reqs[(i - 1) % #reqs + 1]
  end
  i = i % #reqs + 1
  return reqs[i]
end

-- wrk's main thread sleeps for the whole -d duration; once every thread has its quota,
-- the last one to finish wakes it with SIGINT (what Ctrl-C does), so the run, and the
-- duration wrk reports, end when the last response arrives.
local ffi = require("ffi")
ffi.cdef [[ int getpid(void); int kill(int pid, int sig); ]]
local marker = os.getenv("LOAD_MARKER")
local finished = false
function response(status, headers, body)
  got = got + 1
  if got >= quota and not finished then
    finished = true
    wrk.thread:stop()
    local f = assert(io.open(marker, "a"))
    f:write(id, "\n")
    f:close()
    local n = 0
    for _ in io.lines(marker) do n = n + 1 end
    if n >= nthreads then ffi.C.kill(ffi.C.getpid(), 2) end
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  local secs = summary.duration / 1e6
  io.write(string.format(
    "RESULT requests=%d seconds=%.3f rps=%.1f p50_us=%d p99_us=%d max_us=%d "
      .. "err_connect=%d err_read=%d err_write=%d err_status=%d err_timeout=%d\n",
    summary.requests, secs, summary.requests / secs,
    latency:percentile(50), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.status, e.timeout))
end
LUA

# --- server ----------------------------------------------------------------------------
# An empty config file, so an intervene.yaml in the working directory (API keys, another
# data dir) cannot change what is measured; flags set everything else. RUST_LOG passes
# through (default: the server's own, `info`: one access log line per request).
: > "$WORK/empty.yaml"
cpu_busy_pct() {
  local a b
  read -r -a a < /proc/stat; sleep 1; read -r -a b < /proc/stat
  local t=0 idle i
  for i in 1 2 3 4 5 6 7 8; do t=$(( t + b[i] - a[i] )); done
  idle=$(( b[4] - a[4] + b[5] - a[5] ))
  echo $(( t > 0 ? 100 * (t - idle) / t : 0 ))
}
BUSY=$(cpu_busy_pct 2>/dev/null || echo "?")
CORES=$(nproc)
MODEL=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -n 1)
REV=$(git rev-parse --short HEAD 2>/dev/null || echo "?")
if [[ $REV != "?" ]] && ! git diff --quiet HEAD -- src Cargo.toml Cargo.lock rules 2>/dev/null; then REV="$REV+changes"; fi
BUILT=$(date -u -r "$BIN" +%FT%TZ)
say "machine: $CORES cores (${MODEL:-unknown cpu}); commit $REV, binary built $BUILT; $(wrk --version 2>&1 | head -n 1 | cut -d' ' -f1-2)"
say "CPU busy before the run: ${BUSY}% (anything else running competes with the server and wrk)"
FSTYPE=$(stat -f -c %T "$WORK" 2>/dev/null || echo "?")
say "data directory on $FSTYPE ($WORK)"
case $FSTYPE in
  tmpfs | ramfs) say "WARNING: fsync is free on $FSTYPE, so the durable figure is not a durable one; set TMPDIR to a directory on a disk" ;;
esac

# A port below the kernel's ephemeral range that nothing uses (any state, IPv4 or IPv6);
# if the server still cannot bind it (a race), another one. PORT=... picks it yourself.
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
USER_PORT=${PORT:-}
for attempt in 1 2 3 4 5; do
  PORT=${PORT:-$(free_port)}
  INTERVENE_WEBHOOK_SECRET=$WEBHOOK_SECRET \
  "$BIN" serve --config "$WORK/empty.yaml" --bind "$HOST:$PORT" --data "$DATA" --rules "$ROOT/rules" \
    --log-format text > "$WORK/server.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 300); do
    kill -0 "$SERVER_PID" 2>/dev/null || break
    if curl -fsS -o /dev/null "http://$HOST:$PORT/healthz" 2>/dev/null; then BASE="http://$HOST:$PORT"; break; fi
    sleep 0.1
  done
  [[ -n $BASE ]] && break
  if ! kill -0 "$SERVER_PID" 2>/dev/null && grep -q "cannot bind" "$WORK/server.log" \
    && [[ -z $USER_PORT ]] && (( attempt < 5 )); then
    SERVER_PID=""
    PORT=""
    continue
  fi
  cat "$WORK/server.log" >&2
  die "the server did not answer GET /healthz on $HOST:$PORT within 30 s"
done
say "server: pid $SERVER_PID on $BASE, data in $DATA"

# One request by hand before any load, so a refused body fails loudly here (dry run: no
# audit entry).
smoke=$(curl -sS -o "$WORK/smoke.json" -w '%{http_code}' -H 'Content-Type: application/json' \
  --data-binary @"$WORK/body.json" "$BASE/v1/evaluate?dry_run=true")
[[ $smoke == 200 ]] || { cat "$WORK/smoke.json" >&2; die "POST /v1/evaluate?dry_run=true answered $smoke"; }

# --- measurement -----------------------------------------------------------------------
# Server-side counters from /metrics: 2xx answers, other answers (both without /metrics
# itself), audit entries acknowledged, group commits, seconds spent flushing.
server_counts() {
  curl -fsS "$BASE/metrics" | awk '
    /^intervene_http_requests_total\{/ {
      if ($0 ~ /route="\/metrics"/) next
      if ($0 ~ /status="2[0-9][0-9]"/) ok += $NF; else bad += $NF
    }
    /^intervene_audit_batch_entries_sum / { entries = $NF }
    /^intervene_audit_batch_entries_count / { flushes = $NF }
    /^intervene_audit_flush_seconds_sum / { fsecs = $NF }
    END { printf "%d %d %d %d %.6f\n", ok, bad, entries, flushes, fsecs }'
}
# The counters once requests still in flight when wrk stopped have finished.
settled_counts() {
  local prev cur
  prev=$(server_counts)
  for _ in $(seq 1 50); do
    sleep 0.1
    cur=$(server_counts)
    [[ ${cur% *} == "${prev% *}" ]] && break
    prev=$cur
  done
  echo "$cur"
}

# drive OUT N METHOD PATH [BODY_FILE] [HEADER...]: one bounded wrk run, output in OUT.
drive() {
  local out=$1 n=$2 method=$3 path=$4 bodies=${5:-}
  shift 4; (( $# )) && shift
  local headers="" h
  for h in "$@"; do headers+="$h"$'\n'; done
  : > "$WORK/finished"
  LOAD_METHOD=$method LOAD_PATH=$path LOAD_BODIES=$bodies LOAD_HEADERS=$headers \
    LOAD_N=$n LOAD_THREADS=$THREADS LOAD_MARKER=$WORK/finished LOAD_SIGNED=${SIGNED:-} \
    wrk -t "$THREADS" -c "$C" -d "${MAX_SECONDS}s" --timeout "$TIMEOUT" -s "$WORK/load.lua" "$BASE" \
      > "$out" 2>&1 &
  WRK_PID=$!
  local rc=0
  wait "$WRK_PID" || rc=$?
  WRK_PID=""
  grep -q '^RESULT ' "$out" || { cat "$out" >&2; die "wrk failed (exit $rc), output above"; }
}

fmt_us() {
  awk -v u="$1" 'BEGIN { if (u < 1000) printf "%dus", u; else if (u < 1e6) printf "%.2fms", u / 1000; else printf "%.2fs", u / 1e6 }'
}
field() { sed -n "s/.*[[:space:]]$2=\([^[:space:]]*\).*/\1/p" "$1"; }

SCENARIOS=()
declare -A RPS P50 P99 MAX REQS ERRS CPU

# server_cpu_ticks: the server's user + system CPU so far, in clock ticks (/proc/PID/stat
# fields 14 and 15; the command name in field 2 has no spaces: `intervene`).
server_cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$SERVER_PID/stat"; }
TICKS=$(getconf CLK_TCK)
AUDITED_TOTAL=0
PROBLEMS=()

# run_scenario NAME ENTRIES_PER_OK METHOD PATH [BODY_FILE] [HEADER...]
#   A measured scenario: N requests over C connections. ENTRIES_PER_OK is how many audit
#   entries each 2xx answer must leave in the log (1 for a durable evaluate, 0 for a dry
#   run or a health check); it is checked against the server's own counters. Headers are
#   `Name: value` strings sent with every request (Content-Type defaults to
#   application/json when there is a body). Adding a scenario is one more call below.
run_scenario() {
  local name=$1 per_ok=$2 method=$3 path=$4 bodies=${5:-}
  shift 4; (( $# )) && shift
  local out=$WORK/$name.wrk before after n=${SCENARIO_N:-$N}
  before=$(settled_counts)
  local cpu_before cpu_after
  cpu_before=$(server_cpu_ticks)
  drive "$out" "$n" "$method" "$path" "$bodies" "$@"
  after=$(settled_counts)
  cpu_after=$(server_cpu_ticks)

  local requests rps p50 p99 max ec er ew es et errors
  requests=$(field "$out" requests); rps=$(field "$out" rps)
  p50=$(field "$out" p50_us); p99=$(field "$out" p99_us); max=$(field "$out" max_us)
  ec=$(field "$out" err_connect); er=$(field "$out" err_read); ew=$(field "$out" err_write)
  es=$(field "$out" err_status); et=$(field "$out" err_timeout)
  errors=$(( ec + er + ew + es + et ))

  local b a s_ok s_bad s_entries s_flushes s_fsecs
  read -r -a b <<< "$before"; read -r -a a <<< "$after"
  s_ok=$(( a[0] - b[0] )); s_bad=$(( a[1] - b[1] ))
  s_entries=$(( a[2] - b[2] )); s_flushes=$(( a[3] - b[3] ))
  s_fsecs=$(awk -v x="${a[4]}" -v y="${b[4]}" 'BEGIN { printf "%.6f", x - y }')
  AUDITED_TOTAL=$(( AUDITED_TOTAL + s_entries ))

  SCENARIOS+=("$name")
  RPS[$name]=$rps; P50[$name]=$p50; P99[$name]=$p99; MAX[$name]=$max
  REQS[$name]=$requests; ERRS[$name]=$errors
  # Server CPU (all its threads) per answered request, in microseconds.
  CPU[$name]=$(awk -v a="$cpu_after" -v b="$cpu_before" -v t="$TICKS" -v n="$requests" \
    'BEGIN { printf "%.0f", (a - b) * 1e6 / t / (n > 0 ? n : 1) }')

  say ""
  say "== $name: $method $path  ($requests requests, $C connections, $(field "$out" seconds) s)"
  say "   requests/s  $rps"
  say "   latency     p50 $(fmt_us "$p50")   p99 $(fmt_us "$p99")   max $(fmt_us "$max")"
  say "   errors      $errors  (connect $ec, read $er, write $ew, status>=400 $es, timeout $et)"
  say "   server      $s_ok answered 2xx, $s_bad other; audit +$s_entries entries; CPU $(fmt_us "${CPU[$name]}") per request"
  if (( s_flushes > 0 )); then
    say "   $(awk -v e="$s_entries" -v f="$s_flushes" -v s="$s_fsecs" \
      'BEGIN { printf "group commit: %d flushes, %.1f entries per flush, %.2f ms per flush", f, e / f, 1000 * s / f }')"
  fi
  (( errors == 0 )) || PROBLEMS+=("$name: $errors request errors")
  (( s_bad == 0 )) || PROBLEMS+=("$name: the server answered $s_bad requests with a non-2xx status")
  # Every request wrk counted must have its entries; requests still in flight when wrk
  # stopped (at most C) may add more, up to one set per 2xx answer (for webhooks they
  # are repeats of the first events, answered as duplicates, so they add none).
  local low=$(( per_ok * (requests < n ? requests : n) )) high=$(( per_ok * s_ok ))
  if (( s_entries < low )); then
    PROBLEMS+=("$name: $requests requests counted but only $s_entries audit entries written (want at least $low)")
  elif (( s_entries > high )); then
    PROBLEMS+=("$name: $s_entries audit entries for $s_ok 2xx answers (want at most $high)")
  elif (( s_entries != low )); then
    say "   note        $(( s_entries - low )) entries from requests still in flight when wrk stopped"
  fi
  if (( requests < n )); then
    PROBLEMS+=("$name: only $requests of $n requests completed (MAX_SECONDS=$MAX_SECONDS reached?)")
  fi
  if [[ -n $RESULTS_TSV ]]; then
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(date -u +%FT%TZ)" "$REV" "$CORES" "$C" \
      "$name" "$requests" "$rps" "$p50" "$p99" "$max" "$errors" "$s_entries" "${CPU[$name]}" >> "$RESULTS_TSV"
  fi
}

if (( WARMUP > 0 )); then
  # Both paths: the first durable requests on a fresh store also pay for the store's
  # first segments and the allocator's first pages, which a running server has behind it.
  say "warming up: $WARMUP dry-run and $WARMUP durable requests (not reported)"
  drive "$WORK/warmup.wrk" "$WARMUP" POST "/v1/evaluate?dry_run=true" "$WORK/bodies.ndjson"
  drive "$WORK/warmup-durable.wrk" "$WARMUP" POST "/v1/evaluate" "$WORK/bodies.ndjson"
fi

read -r -a start_counts <<< "$(settled_counts)"
STARTUP=${start_counts[2]}   # entries written before the scenarios (startup, warm-up)
say "audit log: $STARTUP entries before the scenarios"

run_scenario durable 1 POST "/v1/evaluate" "$WORK/bodies.ndjson"
run_scenario dry_run 0 POST "/v1/evaluate?dry_run=true" "$WORK/bodies.ndjson"
run_scenario healthz 0 GET "/healthz"
CEILING=healthz

# Signed SIS webhooks for $STUDENTS students: first a student.snapshot each (so later
# events have a student), then N mixed section events. Each applied or stale event
# leaves one audit entry; signatures are made just before each phase (300 s window).
say ""
say "generating signed webhook events for $STUDENTS students"
"$EVENTS_BIN" snapshots "$STUDENTS" "$WEBHOOK_SECRET" > "$WORK/snapshots.tsv"
SIGNED=1 SCENARIO_N=$STUDENTS run_scenario wh_snapshot 1 POST "/v1/webhooks/sis" "$WORK/snapshots.tsv"
"$EVENTS_BIN" mixed "$STUDENTS" "$N" "$WEBHOOK_SECRET" > "$WORK/events.tsv"
SIGNED=1 run_scenario webhook 1 POST "/v1/webhooks/sis" "$WORK/events.tsv"

# --- summary ---------------------------------------------------------------------------
say ""
say "== summary (N=$N per scenario, C=$C, $THREADS wrk threads, $CORES cores; ceiling = $CEILING)"
printf '%-10s %9s %11s %10s %10s %10s %10s %9s %9s %7s\n' scenario requests "req/s" "x $CEILING" p50 p99 max "CPU/req" "x dry_run" errors
for s in "${SCENARIOS[@]}"; do
  printf '%-10s %9s %11s %10s %10s %10s %10s %9s %9s %7s\n' "$s" "${REQS[$s]}" "${RPS[$s]}" \
    "$(awk -v a="${RPS[$s]}" -v b="${RPS[$CEILING]}" 'BEGIN { printf "%.3f", a / b }')" \
    "$(fmt_us "${P50[$s]}")" "$(fmt_us "${P99[$s]}")" "$(fmt_us "${MAX[$s]}")" \
    "$(fmt_us "${CPU[$s]}")" "$(awk -v a="${CPU[$s]}" -v b="${CPU[dry_run]}" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')" "${ERRS[$s]}"
done

# --- stop, verify the audit chain ------------------------------------------------------
final=$(settled_counts)
read -r -a fc <<< "$final"
ACKED=${fc[2]}   # every entry the writer acknowledged, the startup entry included
say ""
say "stopping the server (SIGTERM)"
kill -TERM "$SERVER_PID"
stopped=""
for _ in $(seq 1 600); do
  kill -0 "$SERVER_PID" 2>/dev/null || { stopped=1; break; }
  sleep 0.1
done
[[ -n $stopped ]] || die "the server did not stop within 60 s of SIGTERM"
src=0
wait "$SERVER_PID" || src=$?
SERVER_PID=""
(( src == 0 )) || PROBLEMS+=("the server exited with status $src after SIGTERM")
# (logged at info: only looked for when RUST_LOG does not filter it out)
if [[ -z ${RUST_LOG:-} ]] && ! grep -q "audit log flushed" "$WORK/server.log"; then
  PROBLEMS+=("the server log does not say the audit log was flushed")
fi

say "\$ intervene audit verify --data $DATA"
vrc=0
verify=$("$BIN" audit verify --data "$DATA" 2>&1) || vrc=$?
say "$verify"
entries=$(sed -n 's/^ok: \([0-9]*\) entries.*/\1/p' <<< "$verify")
expected=$(( STARTUP + AUDITED_TOTAL ))
if (( vrc != 0 )) || [[ -z $entries ]]; then
  PROBLEMS+=("audit verify failed (exit $vrc)")
else
  say "entries: $entries = $STARTUP before the scenarios + $AUDITED_TOTAL written during the scenarios (expected $expected; the writer acknowledged $ACKED)"
  (( entries == expected )) || PROBLEMS+=("the chain has $entries entries, expected $expected")
  (( entries == ACKED )) || PROBLEMS+=("the chain has $entries entries but the writer acknowledged $ACKED")
fi

if (( ${#PROBLEMS[@]} )); then
  say ""
  say "PROBLEMS:"
  for p in "${PROBLEMS[@]}"; do say "  - $p"; done
  exit 1
fi
say ""
say "ok: no request errors, chain intact"

#!/usr/bin/env bash
# Benchmarks of opentrade-callback: builds release, generates data, runs the simulated
# gateway as a separate process, runs the job, and prints medians with ratios against
# baselines measured in the same run. See bench/README.md.
#
#   bench/run.sh            the full set (about 10 minutes; 2 GB of data in bench/out)
#   bench/run.sh --smoke    a few hundred orders through every step, debug build (CI)
#   RUNS=5 bench/run.sh     more runs per measurement (default 3)
set -euo pipefail
cd "$(dirname "$0")/.."

SMOKE=0
[ "${1:-}" = "--smoke" ] && SMOKE=1
RUNS=${RUNS:-3}
OUT=bench/out
mkdir -p "$OUT"

if [ $SMOKE = 1 ]; then
  PROFILE=debug; RUNS=1
  N_LATENCY=300; N_THROUGHPUT=500; N_QPS=100; QPS=50; N_LEDGER=20000; N_INPUT=2000; LATENCY_MS=20
  N_BATCH_SINGLE=200; N_BATCH=1000; N_BATCH_CPU=1000; N_SHEET=2000; N_TRADES=3000
else
  PROFILE=release
  N_LATENCY=20000; N_THROUGHPUT=200000; N_QPS=10000; QPS=200; N_LEDGER=10000000; N_INPUT=1000000; LATENCY_MS=50
  N_BATCH_SINGLE=4000; N_BATCH=40000; N_BATCH_CPU=100000; N_SHEET=100000; N_TRADES=1000000
fi

say() { printf '\n== %s\n' "$*" >&2; }
have() { command -v "$1" >/dev/null 2>&1; }

# Tools the measurements need: GNU time (CPU and peak memory), wrk (the ceiling).
if [ $SMOKE = 0 ]; then
  missing=()
  have wrk || missing+=(wrk)
  [ -x /usr/bin/time ] || missing+=(time)
  if ((${#missing[@]})); then
    say "installing ${missing[*]}"
    apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
fi
TIME=/usr/bin/time
[ -x $TIME ] || TIME=""

say "building ($PROFILE)"
if [ $PROFILE = release ]; then
  cargo build --release --quiet --bin opentrade-callback --example bench_data
else
  cargo build --quiet --bin opentrade-callback --example bench_data
fi
BIN=${CARGO_TARGET_DIR:-target}/$PROFILE/opentrade-callback
GEN=${CARGO_TARGET_DIR:-target}/$PROFILE/examples/bench_data

say "generating data in $OUT"
gen_orders() { [ -s "$OUT/orders-$1.csv" ] || $GEN orders "$1" "$OUT/orders-$1.csv"; }
for n in $N_LATENCY $N_THROUGHPUT $N_QPS $N_INPUT $((N_INPUT / 4)) $N_BATCH_SINGLE $N_BATCH $N_BATCH_CPU $N_SHEET; do gen_orders "$n"; done
[ -s "$OUT/orders-$N_SHEET.xlsx" ] || $GEN orders "$N_SHEET" "$OUT/orders-$N_SHEET.xlsx"
[ -s "$OUT/tls/root.pem" ] || $GEN certs "$OUT/tls"
# The big ledger: generated as a CSV ledger of the earlier layout, then brought into a
# database by `ledger import` — which is itself measured (section 4).
LEDGER_CSV="$OUT/ledger-$N_LEDGER.csv"
LEDGER_BIG="$OUT/ledger-$N_LEDGER.db"
[ -s "$LEDGER_CSV" ] || $GEN ledger "$N_LEDGER" $((N_INPUT / 2)) "$LEDGER_CSV"

export TOP_APP_KEY=12345678 TOP_APP_SECRET=helloworld TOP_SESSION=demo-session
SIM_PID=""
start_sim() { # $1: scenario JSON text; SIM_TLS=1 serves HTTPS (then send needs --ca-cert "$OUT/tls/root.pem")
  printf '%s' "$1" > "$OUT/scenario.json"
  local tls=()
  [ "${SIM_TLS:-0}" = 1 ] && tls=(--tls-cert "$OUT/tls/server.pem" --tls-key "$OUT/tls/server-key.pem")
  # Emptied first: the background job's own truncation may come after the wait below
  # reads the file, which would then still name the previous simulator's (closed) port.
  : > "$OUT/sim.out"
  $BIN simulate --listen 127.0.0.1:0 --scenario "$OUT/scenario.json" "${tls[@]}" > "$OUT/sim.out" 2>&1 &
  SIM_PID=$!
  for _ in $(seq 100); do grep -q '^listening on' "$OUT/sim.out" 2>/dev/null && break; sleep 0.05; done
  SIM_BASE=$(head -1 "$OUT/sim.out" | sed 's/^listening on //')
  SIM_URL="$SIM_BASE/router/rest"
}
stop_sim() { [ -n "$SIM_PID" ] && kill "$SIM_PID" 2>/dev/null && wait "$SIM_PID" 2>/dev/null; SIM_PID=""; }
trap stop_sim EXIT
stat_of() { curl -s "$SIM_BASE/__stats" | python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }

# Runs the job; leaves "wall user sys maxrss_kb" in $OUT/run.time and its stderr in $OUT/run.err.
send() {
  rm -f "$OUT"/ledger-run.db*
  if [ -n "$TIME" ]; then
    $TIME -o "$OUT/run.time" -f "%e %U %S %M" "$BIN" send "$@" --out "${RESULTS:-$OUT/results.csv}" --progress off 2> "$OUT/run.err" || true
  else
        local t0; t0=$(date +%s%N)
    "$BIN" send "$@" --out "${RESULTS:-$OUT/results.csv}" --progress off 2> "$OUT/run.err" || true
    python3 -c "print(($(date +%s%N) - $t0) / 1e9, 0, 0, 0)" > "$OUT/run.time"
  fi
}
median() { sort -g | awk '{v[NR]=$1} END {if (NR%2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'; }
ratio() { python3 -c "print(f'{$1/$2:.3f}')"; }
ROWS=()
row() { ROWS+=("$(printf '%-62s %14s   %s' "$1" "$2" "$3")"); }

# 1. Latency-bound efficiency: wall against the ideal N × latency / concurrency.
for c in 64 512; do
  say "latency-bound: $N_LATENCY orders, ${LATENCY_MS} ms latency, concurrency $c"
  walls=()
  for _ in $(seq "$RUNS"); do
    start_sim "{\"latency_ms\": $LATENCY_MS}"
    send "$OUT/orders-$N_LATENCY.csv" --ledger "$OUT/ledger-run.db" --gateway "$SIM_URL" --concurrency "$c"
    walls+=("$(cut -d' ' -f1 "$OUT/run.time")"); stop_sim
  done
  wall=$(printf '%s\n' "${walls[@]}" | median)
  ideal=$(python3 -c "print($N_LATENCY * $LATENCY_MS / 1000 / $c)")
  row "latency-bound, concurrency $c: wall (ideal ${ideal}s)" "${wall}s" "wall/ideal $(ratio "$wall" "$ideal")  runs: ${walls[*]}"
done

# 2. Throughput at latency 0, CPU of our process, and the simulator's own ceiling.
# throughput_runs [send options...]: RUNS runs into rates=() and cpus=() (callbacks/s,
# CPU seconds per 10,000 callbacks); SIM_TLS=1 serves HTTPS.
throughput_runs() {
  rates=(); cpus=()
  for _ in $(seq "$RUNS"); do
    start_sim '{}'
    send "$OUT/orders-$N_THROUGHPUT.csv" --ledger "$OUT/ledger-run.db" --gateway "$SIM_URL" --concurrency 64 "$@"
    grep -q "exit 0" "$OUT/run.err" || { cat "$OUT/run.err" >&2; exit 1; }
    read -r wall user sys _ < "$OUT/run.time"
    rates+=("$(python3 -c "print(round($N_THROUGHPUT / $wall))")")
    cpus+=("$(python3 -c "print(round(($user + $sys) / $N_THROUGHPUT * 10000, 3))")")
    stop_sim
  done
}
say "throughput: $N_THROUGHPUT orders, latency 0, concurrency 64"
throughput_runs
rate=$(printf '%s\n' "${rates[@]}" | median)
row "throughput: callbacks/s" "$rate" "runs: ${rates[*]}"
row "throughput: CPU seconds of our process per 10,000 callbacks" "$(printf '%s\n' "${cpus[@]}" | median)" "runs: ${cpus[*]}"

# The same over HTTPS (the real gateway's transport): the simulator serves TLS with a
# certificate made for this run, the job trusts its root with --ca-cert.
say "throughput over TLS: $N_THROUGHPUT orders, latency 0, concurrency 64"
SIM_TLS=1 throughput_runs --ca-cert "$OUT/tls/root.pem"
tls_rate=$(printf '%s\n' "${rates[@]}" | median)
row "throughput over TLS: callbacks/s" "$tls_rate" "tls/plain $(ratio "$tls_rate" "$rate")  runs: ${rates[*]}"
row "throughput over TLS: CPU s of our process per 10,000 callbacks" "$(printf '%s\n' "${cpus[@]}" | median)" "runs: ${cpus[*]}"

if have wrk; then
  say "the simulator's ceiling under wrk (same machine, same request shape)"
  python3 bench/signed_request.py > "$OUT/post.lua"
  ceilings=(); statics=()
  for _ in $(seq "$RUNS"); do
    start_sim '{}'
    ceilings+=("$(wrk -t1 -c64 -d$([ $SMOKE = 1 ] && echo 1 || echo 8)s -s "$OUT/post.lua" "$SIM_URL" | awk '/Requests\/sec/ {print int($2)}')")
    statics+=("$(wrk -t1 -c64 -d$([ $SMOKE = 1 ] && echo 1 || echo 5)s "$SIM_BASE/static-404" | awk '/Requests\/sec/ {print int($2)}')")
    stop_sim
  done
  ceiling=$(printf '%s\n' "${ceilings[@]}" | median)
  static=$(printf '%s\n' "${statics[@]}" | median)
  row "simulator ceiling under wrk: signed callbacks/s" "$ceiling" "ours/ceiling $(ratio "$rate" "$ceiling")  runs: ${ceilings[*]}"
  row "wrk against a static 404 of the same server: requests/s" "$static" "ours/static $(ratio "$rate" "$static")  runs: ${statics[*]}"
fi

if [ $SMOKE = 0 ] && { python3 -c "import aiohttp" 2>/dev/null || { [ -x "$OUT/venv/bin/python" ] || python3 -m venv "$OUT/venv" && "$OUT/venv/bin/pip" -q install aiohttp >/dev/null 2>&1; }; }; then
  PY=python3; python3 -c "import aiohttp" 2>/dev/null || PY="$OUT/venv/bin/python"
  say "baseline: Python asyncio/aiohttp client, same orders"
  py_rates=()
  for _ in $(seq "$RUNS"); do
    start_sim '{}'
    read -r delivered seconds < <($PY bench/baseline_aiohttp.py "$OUT/orders-$N_THROUGHPUT.csv" "$SIM_URL" 64)
    py_rates+=("$(python3 -c "print(round($delivered / $seconds))")"); stop_sim
  done
  py=$(printf '%s\n' "${py_rates[@]}" | median)
  row "baseline: Python asyncio/aiohttp client, callbacks/s" "$py" "ours/python $(ratio "$rate" "$py")  runs: ${py_rates[*]}"
fi

# 3. Rate cap accuracy, measured where the platform would: at the gateway.
say "rate cap: --qps $QPS over $N_QPS orders"
achieved=(); peaks=()
for _ in $(seq "$RUNS"); do
  start_sim '{}'
  send "$OUT/orders-$N_QPS.csv" --ledger "$OUT/ledger-run.db" --gateway "$SIM_URL" --concurrency 64 --qps "$QPS"
  span=$(stat_of arrival_span_ms); calls=$(stat_of requests)
  achieved+=("$(python3 -c "print(round(($calls - 1) / ($span / 1000), 2))")")
  peaks+=("$(stat_of max_calls_in_one_second)"); stop_sim
done
a=$(printf '%s\n' "${achieved[@]}" | median)
row "rate cap $QPS/s: achieved calls/s at the gateway" "$a" "achieved/cap $(ratio "$a" "$QPS")  runs: ${achieved[*]}"
row "rate cap $QPS/s: most calls in any one-second window" "$(printf '%s\n' "${peaks[@]}" | sort -n | tail -1)" "max over runs; runs: ${peaks[*]}"

# 4. Dedup at scale: a big ledger and a big input, dry run; memory against input size.
#    The ledger is imported first (once: a later run reuses it), and the import timed.
if [ ! -s "$LEDGER_BIG" ]; then
  say "importing the $N_LEDGER-line CSV ledger"
  rm -f "$LEDGER_BIG"*
  if [ -n "$TIME" ]; then
    $TIME -o "$OUT/import.time" -f "%e %U %S %M" "$BIN" ledger import "$LEDGER_CSV" --into "$LEDGER_BIG" > "$OUT/import.out"
  else
    "$BIN" ledger import "$LEDGER_CSV" --into "$LEDGER_BIG" > "$OUT/import.out"; echo "0 0 0 0" > "$OUT/import.time"
  fi
  read -r wall _ _ kb < "$OUT/import.time"
  row "ledger import: $N_LEDGER CSV lines into the database" "${wall}s" "peak $((kb / 1024)) MiB; $(cat "$OUT/import.out")"
fi
say "dedup: $N_LEDGER-order ledger, $N_INPUT input rows, --dry-run"
walls=(); rss=()
for _ in $(seq "$RUNS"); do
  send "$OUT/orders-$N_INPUT.csv" --ledger "$LEDGER_BIG" --dry-run
  read -r wall _ _ kb < "$OUT/run.time"; walls+=("$wall"); rss+=("$((kb / 1024))")
done
row "dedup: wall" "$(printf '%s\n' "${walls[@]}" | median)s" "runs: ${walls[*]}"
row "dedup: peak RSS (MiB)" "$(printf '%s\n' "${rss[@]}" | median)" "runs: ${rss[*]}"
send "$OUT/orders-$((N_INPUT / 4)).csv" --ledger "$LEDGER_BIG" --dry-run
read -r _ _ _ kb_quarter < "$OUT/run.time"
row "dedup: peak RSS with a quarter of the input (MiB)" "$((kb_quarter / 1024))" "growth per input row: $(python3 -c "print(round(($(printf '%s\n' "${rss[@]}" | median) - $kb_quarter / 1024) * 1048576 / ($N_INPUT * 3 / 4)))") bytes"
grep -q "skipped_delivered" "$OUT/run.err" || { echo "dedup run did not skip anything:" >&2; cat "$OUT/run.err" >&2; exit 1; }

# 5. Workbooks: reading a workbook export (dry run) and writing a result workbook,
#    each against the same work in CSV, same run.
say "workbooks: $N_SHEET rows, dry run, .xlsx against .csv (input, then results)"
declare -A wall sheet_rss
for kind in csv-in xlsx-in csv-out xlsx-out; do
  walls=(); peaks=()
  for _ in $(seq "$RUNS"); do
    case $kind in
      csv-in)  send "$OUT/orders-$N_SHEET.csv" --ledger "$OUT/ledger-run.db" --dry-run ;;
      xlsx-in) send "$OUT/orders-$N_SHEET.xlsx" --ledger "$OUT/ledger-run.db" --dry-run ;;
      csv-out) send "$OUT/orders-$N_SHEET.csv" --ledger "$OUT/ledger-run.db" --dry-run ;;
      xlsx-out) RESULTS="$OUT/results.xlsx" send "$OUT/orders-$N_SHEET.csv" --ledger "$OUT/ledger-run.db" --dry-run ;;
    esac
    read -r w _ _ kb < "$OUT/run.time"; walls+=("$w"); peaks+=("$((kb / 1024))")
  done
  wall[$kind]=$(printf '%s\n' "${walls[@]}" | median); sheet_rss[$kind]=$(printf '%s\n' "${peaks[@]}" | median)
done
row "workbook input, dry run: wall (.xlsx / .csv)" "${wall[xlsx-in]}s" "xlsx/csv $(ratio "${wall[xlsx-in]}" "${wall[csv-in]}")  csv ${wall[csv-in]}s; RSS ${sheet_rss[xlsx-in]} / ${sheet_rss[csv-in]} MiB"
row "result workbook written: wall (.xlsx / .csv results)" "${wall[xlsx-out]}s" "xlsx/csv $(ratio "${wall[xlsx-out]}" "${wall[csv-out]}")  csv ${wall[csv-out]}s; RSS ${sheet_rss[xlsx-out]} / ${sheet_rss[csv-out]} MiB"

# 6. The batch API: calls/s at 50 ms latency, and CPU per call at 0 ms, against single
#    calls measured in the same run, same simulator.
say "batch API: --batch 20 against --batch 1, ${LATENCY_MS} ms latency, concurrency 16"
calls_per_s() { python3 -c "print(round($1 / $2))"; }
singles=(); batches=()
for _ in $(seq "$RUNS"); do
  start_sim "{\"latency_ms\": $LATENCY_MS}"
  send "$OUT/orders-$N_BATCH_SINGLE.csv" --ledger "$OUT/ledger-run.db" --gateway "$SIM_URL" --concurrency 16 --batch 1
  singles+=("$(calls_per_s "$N_BATCH_SINGLE" "$(cut -d' ' -f1 "$OUT/run.time")")"); stop_sim
  start_sim "{\"latency_ms\": $LATENCY_MS}"
  send "$OUT/orders-$N_BATCH.csv" --ledger "$OUT/ledger-run.db" --gateway "$SIM_URL" --concurrency 16 --batch 20
  grep -q "exit 0" "$OUT/run.err" || { echo "batch run failed:" >&2; cat "$OUT/run.err" >&2; exit 1; }
  batches+=("$(calls_per_s "$N_BATCH" "$(cut -d' ' -f1 "$OUT/run.time")")"); stop_sim
done
single=$(printf '%s\n' "${singles[@]}" | median)
batched=$(printf '%s\n' "${batches[@]}" | median)
row "batch, ${LATENCY_MS} ms, concurrency 16: --batch 1 callbacks/s" "$single" "runs: ${singles[*]}"
row "batch, ${LATENCY_MS} ms, concurrency 16: --batch 20 callbacks/s" "$batched" "batch/single $(ratio "$batched" "$single")  runs: ${batches[*]}"

say "batch API: CPU per 10,000 callbacks at latency 0, --batch 20 against single calls"
cpu_single=(); cpu_batch=()
for _ in $(seq "$RUNS"); do
  for b in 1 20; do
    start_sim '{}'
    send "$OUT/orders-$N_BATCH_CPU.csv" --ledger "$OUT/ledger-run.db" --gateway "$SIM_URL" --concurrency 16 --batch "$b"
    read -r _ user sys _ < "$OUT/run.time"
    cpu=$(python3 -c "print(round(($user + $sys) / $N_BATCH_CPU * 10000, 3))")
    if [ "$b" = 1 ]; then cpu_single+=("$cpu"); else cpu_batch+=("$cpu"); fi
    stop_sim
  done
done
cs=$(printf '%s\n' "${cpu_single[@]}" | median)
cb=$(printf '%s\n' "${cpu_batch[@]}" | median)
row "batch, latency 0: CPU s per 10,000 callbacks, single calls" "$cs" "runs: ${cpu_single[*]}"
row "batch, latency 0: CPU s per 10,000 callbacks, --batch 20" "$cb" "single/batch $(ratio "$cs" "$cb")  runs: ${cpu_batch[*]}"

# 8. Reconcile: 7 days of N_TRADES trades (the simulator generates them, waiting, tids
#    from the big ledger's first order number up: half of them known) against the big
#    ledger, latency 0. The client's own work is the wall less the time spent waiting
#    for the platform's answers (reconcile measures it: platform_seconds); the calls
#    against the documented minimum (one a page of 100, per window).
say "reconcile: 7 days of $N_TRADES trades against the $N_LEDGER-order ledger"
start_sim "{\"generate_trades\": {\"count\": $N_TRADES, \"days\": 7, \"first_tid\": 4000000000000000000}}"
rwalls=(); rown=(); rrss=()
for _ in $(seq "$RUNS"); do
  t0=$(date +%s%N)
  if [ -n "$TIME" ]; then
    $TIME -o "$OUT/rec.time" -f "%e %U %S %M" "$BIN" reconcile --ledger "$LEDGER_BIG" --since 7d --gateway "$SIM_URL" \
      --out "$OUT/reconcile.csv" --summary-json "$OUT/reconcile.json" 2> "$OUT/rec.err" || true
  else
    "$BIN" reconcile --ledger "$LEDGER_BIG" --since 7d --gateway "$SIM_URL" --out "$OUT/reconcile.csv" \
      --summary-json "$OUT/reconcile.json" 2> "$OUT/rec.err" || true
    python3 -c "print(($(date +%s%N) - $t0) / 1e9, 0, 0, 0)" > "$OUT/rec.time"
  fi
  # GNU time says "Command exited with non-zero status 1" first when orders fall due.
  read -r wall _ _ kb < <(tail -1 "$OUT/rec.time")
  python3 -c "import json,sys; d=json.load(open('$OUT/reconcile.json')); sys.exit(0 if d['exit_code'] in (0, 1) else 1)" \
    || { echo "reconcile failed:" >&2; cat "$OUT/rec.err" >&2; exit 1; }
  rwalls+=("$wall"); rrss+=("$((kb / 1024))")
  rown+=("$(python3 -c "import json; d=json.load(open('$OUT/reconcile.json')); print(round($wall - d['platform_seconds'], 2))")")
done
stop_sim
calls=$(python3 -c "import json; d=json.load(open('$OUT/reconcile.json')); print(f\"{d['window_calls']} (minimum {d['minimum_calls']}) + {d['catch_up_calls']} for the walk's own time; {d['trades']} trades\")")
row "reconcile, 7 days of $N_TRADES trades: wall" "$(printf '%s\n' "${rwalls[@]}" | median)s" "runs: ${rwalls[*]}"
row "reconcile: the client's own work (wall less platform waits)" "$(printf '%s\n' "${rown[@]}" | median)s" "runs: ${rown[*]}"
row "reconcile: peak RSS (MiB)" "$(printf '%s\n' "${rrss[@]}" | median)" "runs: ${rrss[*]}"
row "reconcile: calls" "$(python3 -c "import json; print(json.load(open('$OUT/reconcile.json'))['calls_made'])")" "$calls"

printf '\n%-62s %14s   %s\n' "measurement (median of $RUNS)" "value" "ratio / runs"
printf '%s\n' "${ROWS[@]}"

# 7. The desk: a preview against the dry run it is, memory around an upload, progress.
desk_args=()
[ $SMOKE = 1 ] && desk_args=(--smoke)
RUNS=$RUNS python3 bench/desk.py "$BIN" "$GEN" "$OUT" "${desk_args[@]}"

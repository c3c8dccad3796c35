#!/usr/bin/env bash
# Runs bench/repro/cedar-loop.ts N times, each in a fresh process, one at a time, and counts V8 fatal
# errors. Usage (from the repository root):
#
#   bash bench/repro/run.sh <label> <mode> <runs> [node flags...]
#
#   REPRO_NODE=/path/to/node   the node binary (default: node on PATH)
#   REPRO_TIMEOUT=120          seconds before one run is killed and counted as a hang
#   REPRO_OUT=/tmp/cedar-repro the folder for the stderr of every crashed run and the summary lines
#
# Prints one line per run and a summary line:
#   <label> node=<version> mode=<mode> flags=<flags> runs=<n> ok=<n> fatal=<n> other=<n> hang=<n> seconds=<s>
# fatal = a `Fatal error` from V8 (the process dies with SIGTRAP, exit 133, or SIGABRT, 134).
set -uo pipefail
cd "$(dirname "$0")/../.."
label=${1:?label}; mode=${2:?mode}; runs=${3:?runs}; shift 3
node_bin=${REPRO_NODE:-node}
timeout_s=${REPRO_TIMEOUT:-120}
out=${REPRO_OUT:-/tmp/cedar-repro}
mkdir -p "$out"
version=$("$node_bin" --version)
ok=0; fatal=0; other=0; hang=0
start=$(date +%s)
for ((i = 1; i <= runs; i++)); do
  err="$out/$label-$i.stderr"
  NODE_NO_WARNINGS=1 timeout -k 5 "$timeout_s" "$node_bin" "$@" --import tsx bench/repro/cedar-loop.ts "$mode" >"$out/$label-$i.stdout" 2>"$err"
  rc=$?
  if [[ $rc -eq 0 ]]; then ok=$((ok + 1)); verdict=ok; rm -f "$err" "$out/$label-$i.stdout"
  elif grep -q 'Fatal error' "$err"; then fatal=$((fatal + 1)); verdict="FATAL rc=$rc ($(grep -m1 -o 'v8::internal::[A-Za-z:_]*' "$err" | sed -n 1p))"
  elif [[ $rc -eq 124 || $rc -eq 137 ]]; then hang=$((hang + 1)); verdict="hang rc=$rc"
  else other=$((other + 1)); verdict="error rc=$rc"
  fi
  echo "$label run $i/$runs: $verdict"
done
line="$label node=$version mode=$mode flags='$*' runs=$runs ok=$ok fatal=$fatal other=$other hang=$hang seconds=$(($(date +%s) - start))"
echo "$line" | tee -a "$out/summary.txt"

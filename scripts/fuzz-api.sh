#!/usr/bin/env bash
# Contract fuzzing: schemathesis runs every operation of the served OpenAPI document against the
# embedded runtime (`npm start`'s entry, in memory, on a free port) with a demo token, and fails on
# any 5xx or any response that does not match its documented status codes, content type, headers or
# schema. New pillars' operations are fuzzed as soon as they are in the served document.
#
#   bash scripts/fuzz-api.sh                 # about 3 minutes on a 2-core machine
#
# Environment (all optional):
#   FUZZ_MAX_EXAMPLES=25      test cases per operation and phase (schemathesis --max-examples)
#   FUZZ_TIMEOUT=600          hard cap, in seconds, on the schemathesis run (then: failure)
#   FUZZ_WORKERS=1            concurrent schemathesis workers (more than 1 trips a CPython 3.11.7
#                             ast.parse race in hypothesis: "AST constructor recursion depth mismatch")
#   FUZZ_TOKEN=ACME_ADMIN     which printed demo token to send (ACME_VIEWER, ACME_OPERATOR, ORG_ADMIN, ...)
#   FUZZ_SEED=1               schemathesis --seed, so a run can be replayed
#   FUZZ_ARGS='...'           more schemathesis arguments (e.g. --include-path-regex '/experts')
#   FUZZ_REPORT_DIR=.tools/fuzz-report   where the JUnit report and the server log go
#   FUZZ_KEEP_RATE_LIMITS=1   keep the per-tenant rate limits (by default every family of every pillar
#                             in functions/catalog.ts, and the kernel's default and per-caller refused
#                             budget, is raised, so operations are not left untested
#                             behind 429s; 429 stays a documented answer either way)
# Needs Python >= 3.10 with venv (the venv is made once under .tools/fuzz-venv) and PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION=4.32.5
VENV=.tools/fuzz-venv
REPORT_DIR=${FUZZ_REPORT_DIR:-.tools/fuzz-report}
MAX_EXAMPLES=${FUZZ_MAX_EXAMPLES:-25}
TIMEOUT=${FUZZ_TIMEOUT:-600}
WORKERS=${FUZZ_WORKERS:-1}
TOKEN_NAME=${FUZZ_TOKEN:-ACME_ADMIN}_TOKEN
SEED=${FUZZ_SEED:-1}
CHECKS=not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance

# 1. schemathesis, pinned, in its own venv (reused when it already has the pinned version).
if [[ "$("$VENV/bin/schemathesis" --version 2>/dev/null)" != *"$SCHEMATHESIS_VERSION"* ]]; then
  echo "fuzz: installing schemathesis $SCHEMATHESIS_VERSION into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

# 2. The embedded runtime, in memory, on a free port, in its own process group.
mkdir -p "$REPORT_DIR"
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
BASE="http://127.0.0.1:$PORT"
API="$BASE/api/conductor/v1"
SERVER_LOG="$REPORT_DIR/server.log"
# schemathesis's own console output goes to a file: it ends with a pytest-style summary line that a
# CI log reader can take for the project's test summary. Shown whole when the run fails.
FUZZ_LOG="$REPORT_DIR/schemathesis.log"
if [[ -z "${FUZZ_KEEP_RATE_LIMITS:-}" ]]; then
  CONDUCTOR_RATE_LIMITS=$(NODE_NO_WARNINGS=1 npx tsx -e "import('./functions/catalog.ts').then(({ PILLARS }) => {
    const families = ['default', 'refused', ...PILLARS.flatMap((p) => Object.keys(p.rateFamilies ?? {}))];
    console.log(JSON.stringify(Object.fromEntries(families.map((f) => [f, 1000000]))));
  })")
  export CONDUCTOR_RATE_LIMITS
fi
NODE_NO_WARNINGS=1 setsid npx tsx infra/local/main.ts --memory --port "$PORT" >"$SERVER_LOG" 2>&1 &
SERVER_PID=$!
stop_server() {
  kill -TERM -- "-$SERVER_PID" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$SERVER_PID" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL -- "-$SERVER_PID" 2>/dev/null || true
}
trap stop_server EXIT

for _ in $(seq 1 120); do
  curl -fsS "$API/health" >/dev/null 2>&1 && grep -q "${TOKEN_NAME}=" "$SERVER_LOG" && break
  kill -0 "$SERVER_PID" 2>/dev/null || { echo "fuzz: the runtime exited:"; cat "$SERVER_LOG"; exit 1; }
  sleep 0.5
done
curl -fsS "$API/health" >/dev/null || { echo "fuzz: the runtime did not become healthy in 60 s"; cat "$SERVER_LOG"; exit 1; }
TOKEN=$(sed -n "s/.*${TOKEN_NAME}='\([^']*\)'.*/\1/p" "$SERVER_LOG" | head -n 1)
[[ -n "$TOKEN" ]] || { echo "fuzz: no ${TOKEN_NAME} in the runtime's output"; cat "$SERVER_LOG"; exit 1; }
echo "fuzz: runtime on $BASE (pid $SERVER_PID), token $TOKEN_NAME, schemathesis $SCHEMATHESIS_VERSION, max $MAX_EXAMPLES examples"

# 3. Every operation of the served document; all four phases (examples, coverage, fuzzing, stateful).
start=$(date +%s)
set +e
# shellcheck disable=SC2086
timeout -k 10 "$TIMEOUT" "$VENV/bin/schemathesis" run "$API/openapi.json" \
  --url "$BASE" \
  --header "Authorization: Bearer $TOKEN" \
  --checks "$CHECKS" \
  --max-examples "$MAX_EXAMPLES" \
  --workers "$WORKERS" \
  --seed "$SEED" \
  --request-timeout 10 \
  --suppress-health-check too_slow,filter_too_much \
  --report junit --report-junit-path "$REPORT_DIR/junit.xml" \
  ${FUZZ_ARGS:-} >"$FUZZ_LOG" 2>&1
status=$?
set -e
if [[ $status -ne 0 ]]; then cat "$FUZZ_LOG"; fi
cases=$(grep -c '<testcase' "$REPORT_DIR/junit.xml" 2>/dev/null || true)
echo "fuzz: schemathesis exited $status after $(($(date +%s) - start)) s, ${cases:-0} operations in its report (output: $FUZZ_LOG, junit: $REPORT_DIR/junit.xml, server log: $SERVER_LOG)"
if [[ $status -eq 124 || $status -eq 137 ]]; then echo "fuzz: FAILED: over the ${TIMEOUT} s budget"; fi
kill -0 "$SERVER_PID" 2>/dev/null || { echo "fuzz: FAILED: the runtime died during the run"; status=1; }
exit "$status"

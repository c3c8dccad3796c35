#!/usr/bin/env bash
# conductor-eval.sh: the name the requirements give the CI gate. Runs `conductor-eval` from this
# checkout wherever it is called from; every argument is passed on, and so is the exit code
# (0 pass, 1 regression, 2 bad configuration, 3 infrastructure failure, 4 too small to decide).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec node "$here/conductor-eval.mjs" "$@"

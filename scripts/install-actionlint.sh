#!/usr/bin/env bash
# Installs the pinned actionlint (the GitHub Actions workflow linter) into .tools/bin with `go install`,
# as install-opa.sh does for opa (Go's caches make a second install take seconds; an installed binary
# of the pinned version is reused). CI lints the project's workflow and the eval gate's example with it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
version=v1.7.12
bin="$root/.tools/bin"
actionlint="$bin/actionlint"
if [ -x "$actionlint" ] && [ "$("$actionlint" -version 2>/dev/null | head -n 1)" = "$version" ]; then
  echo "actionlint $version is installed: $actionlint"
  exit 0
fi
if ! command -v go >/dev/null 2>&1; then
  echo "install-actionlint: Go is not installed, so actionlint $version cannot be built here." >&2
  exit 1
fi
mkdir -p "$bin"
GOBIN="$bin" GOFLAGS=-mod=mod go install "github.com/rhysd/actionlint/cmd/actionlint@$version"
echo "actionlint $version is installed: $actionlint"

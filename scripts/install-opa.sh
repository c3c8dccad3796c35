#!/usr/bin/env bash
# Installs the pinned OPA compiler (policies/opa/OPA_VERSION) into .tools/bin/opa with `go install`.
# Go's module and build caches (`go env GOMODCACHE GOCACHE`) are kept between runs, so a second
# install takes seconds, and an installed opa of the pinned version is reused at once. Fails loudly
# when it cannot: Go missing, the module proxy unreachable, or a binary of another version.
#   npm run opa:install        # then: export PATH="$PWD/.tools/bin:$PATH" (the project's scripts find it there anyway)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
version=$(tr -d '[:space:]' < "$root/policies/opa/OPA_VERSION")
bin="$root/.tools/bin"
opa="$bin/opa"

installed_version() { "$opa" version 2>/dev/null | sed -n 's/^Version: //p'; }

if [ -x "$opa" ] && [ "v$(installed_version)" = "$version" ]; then
  echo "opa $version is installed: $opa"
  exit 0
fi
if ! command -v go >/dev/null 2>&1; then
  echo "install-opa: Go is not installed, so opa $version cannot be built here." >&2
  echo "  Install Go (https://go.dev/dl/), or put an opa $version binary at $opa" >&2
  echo "  (https://www.openpolicyagent.org/docs/latest/#running-opa). The Cedar engine and the committed" >&2
  echo "  OPA bundle (policies/opa/policy.wasm) work without it." >&2
  exit 1
fi
mkdir -p "$bin"
echo "install-opa: go install github.com/open-policy-agent/opa@$version -> $bin (caches: $(go env GOMODCACHE), $(go env GOCACHE))"
GOBIN="$bin" GOFLAGS=-mod=mod go install "github.com/open-policy-agent/opa@$version"
got="v$(installed_version)"
if [ "$got" != "$version" ]; then
  echo "install-opa: $opa reports version $got, expected $version" >&2
  exit 1
fi
echo "opa $version is installed: $opa"

#!/usr/bin/env bash
# Build clientgo-check (main.go: named checks of client-go's list/watch machinery, one JSON
# line each) against the client-go/apimachinery versions pinned in go.mod (the ones
# tools/k8s/go.mod uses, so the module cache the Kubernetes build filled serves them) into
# a cache outside the repository:
#
#   ${SLICEPLANE_CLIENTGO_CHECK_CACHE:-$HOME/.cache/sliceplane/clientgo-check}/<stamp>/clientgo-check
#
# Same shape as tools/coredns/build.sh, except that the directory is named by the stamp
# (a hash of go.mod, go.sum, main.go, flags and toolchain): the program is ours and has no
# version, and a changed check must never be served from an older build. The stamp of the
# newest build is written to <cache>/current for the tests to find it.
#
# Environment: SLICEPLANE_CLIENTGO_CHECK_CACHE (cache root), GO (go binary), CLIENTGO_CHECK_BUILD_P.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

if [ -z "${HOME:-}" ]; then
  HOME="$(getent passwd "$(id -u)" | cut -d: -f6)"
  export HOME
fi

cache_root="${SLICEPLANE_CLIENTGO_CHECK_CACHE:-$HOME/.cache/sliceplane/clientgo-check}"
GO="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"
if [ ! -x "$GO" ]; then
  echo "clientgo-check-bin: no Go toolchain found (set GO=/path/to/go)" >&2
  exit 1
fi

ldflags="-s -w"
build_flags="CGO_ENABLED=0 GOFLAGS=-trimpath -buildvcs=false ldflags=[$ldflags]"
stamp="$(
  {
    cat go.mod go.sum main.go
    echo "$build_flags"
    "$GO" env GOOS GOARCH
    "$GO" version
  } | sha256sum | cut -c1-16
)"
out="$cache_root/$stamp"

if [ -x "$out/clientgo-check" ]; then
  echo "$stamp" >"$cache_root/current"
  echo "clientgo-check-bin: $out is up to date"
  exit 0
fi

mkdir -p "$out"
exec 9>"$out/.lock"
if ! flock -n 9; then
  echo "clientgo-check-bin: another build holds $out/.lock; waiting for it" >&2
  flock 9
fi
if [ ! -x "$out/clientgo-check" ]; then
  export CGO_ENABLED=0
  export GOFLAGS="-trimpath -buildvcs=false"
  jobs="${CLIENTGO_CHECK_BUILD_P:-$(nproc 2>/dev/null || echo 2)}"
  echo "clientgo-check-bin: building into $out (go build -p $jobs)"
  start=$SECONDS
  "$GO" build -p "$jobs" -ldflags "$ldflags" -o "$out/.clientgo-check.tmp" .
  mv -f "$out/.clientgo-check.tmp" "$out/clientgo-check"
  echo "$(date -u +%FT%TZ) clientgo-check: $((SECONDS - start)) s" >>"$out/build.log"
  echo "clientgo-check-bin: done in $((SECONDS - start)) s"
fi
echo "$stamp" >"$cache_root/current"

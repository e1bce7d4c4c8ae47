#!/usr/bin/env bash
# Build CoreDNS (with its kubernetes plugin) from the module version pinned in go.mod into
# a cache outside the repository, for the DNS differential tests and bench/dns.py:
#
#   ${SLICEPLANE_COREDNS_CACHE:-$HOME/.cache/sliceplane/coredns}/<VERSION>/coredns
#
# Same reasons and shape as tools/k8s/build.sh: the machines reach only package registries
# (the Go module proxy serves CoreDNS's sources), a cold build is minutes on two cores, and
# a stamp (hash of go.mod, go.sum, main.go, VERSION, flags, toolchain) makes a warm cache
# return at once. main.go links only the plugins we use, which keeps the build small.
#
# Environment: SLICEPLANE_COREDNS_CACHE (cache root), GO (go binary), COREDNS_BUILD_P.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

if [ -z "${HOME:-}" ]; then
  HOME="$(getent passwd "$(id -u)" | cut -d: -f6)"
  export HOME
fi

version="$(tr -d ' \n\r\t' <VERSION)"
cache_root="${SLICEPLANE_COREDNS_CACHE:-$HOME/.cache/sliceplane/coredns}"
out="$cache_root/$version"

GO="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"
if [ ! -x "$GO" ]; then
  echo "coredns-bin: no Go toolchain found (set GO=/path/to/go)" >&2
  exit 1
fi

ldflags="-s -w"
build_flags="CGO_ENABLED=0 GOFLAGS=-trimpath -buildvcs=false ldflags=[$ldflags]"
stamp_value="$(
  {
    cat go.mod go.sum VERSION main.go
    echo "$build_flags"
    "$GO" env GOOS GOARCH
    "$GO" version
  } | sha256sum | cut -d' ' -f1
)"

up_to_date() {
  [ -x "$out/coredns" ] && [ -f "$out/.stamp" ] && [ "$(cat "$out/.stamp")" = "$stamp_value" ]
}

if up_to_date; then
  echo "coredns-bin: $out is up to date (v$version)"
  exit 0
fi

mkdir -p "$out"
exec 9>"$out/.lock"
if ! flock -n 9; then
  echo "coredns-bin: another build holds $out/.lock; waiting for it" >&2
  flock 9
fi
if up_to_date; then
  echo "coredns-bin: $out is up to date (v$version)"
  exit 0
fi
rm -f "$out/.stamp"

export CGO_ENABLED=0
export GOFLAGS="-trimpath -buildvcs=false"
jobs="${COREDNS_BUILD_P:-$(nproc 2>/dev/null || echo 2)}"
echo "coredns-bin: building CoreDNS v$version into $out (go build -p $jobs)"
start=$SECONDS
"$GO" build -p "$jobs" -ldflags "$ldflags" -o "$out/.coredns.tmp" .
mv -f "$out/.coredns.tmp" "$out/coredns"
echo "$(date -u +%FT%TZ) coredns: $((SECONDS - start)) s" >>"$out/build.log"
"$out/coredns" -version
echo "$stamp_value" >"$out/.stamp"
echo "coredns-bin: done in $((SECONDS - start)) s"

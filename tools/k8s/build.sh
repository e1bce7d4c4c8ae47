#!/usr/bin/env bash
# Build the real kube-apiserver, kube-controller-manager, kube-proxy, kube-scheduler and
# etcd from the module versions pinned in tools/k8s/go.mod, into a cache outside the
# repository:
#
#   ${SLICEPLANE_K8S_CACHE:-$HOME/.cache/sliceplane/k8s}/<VERSION>/
#
# Why build instead of download: the machines reach only package registries, and the Go
# module proxy serves Kubernetes' own sources. Why a cache outside the repo: a cold build
# takes a good part of CI's budget, and CI runs on the same machine, so a warm cache turns
# `make k8s-bin` into a few seconds. The stamp is a hash of everything that decides the
# output (go.mod, go.sum, VERSION, etcd/main.go, the binaries and flags below); when it
# matches and all five binaries exist, nothing is rebuilt.
#
# Environment: SLICEPLANE_K8S_CACHE (cache root), GO (go binary), K8S_BUILD_P (go build -p).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

# Go needs a home for its caches, and the binary cache lives there too; CI's environment
# is trimmed, so fall back to the passwd entry (as Python's Path.home() does).
if [ -z "${HOME:-}" ]; then
  HOME="$(getent passwd "$(id -u)" | cut -d: -f6)"
  export HOME
fi

version="$(tr -d ' \n\r\t' <VERSION)"
cache_root="${SLICEPLANE_K8S_CACHE:-$HOME/.cache/sliceplane/k8s}"
out="$cache_root/$version"
binaries=(kube-apiserver kube-controller-manager kube-proxy kube-scheduler etcd)

GO="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"
if [ ! -x "$GO" ]; then
  echo "k8s-bin: no Go toolchain found (set GO=/path/to/go)" >&2
  exit 1
fi

major="${version%%.*}"
minor="${version#*.}"
minor="${minor%%.*}"
# The version the binaries report. Without these, kube-apiserver serves /version as
# v0.0.0-master and clients (kubectl among them) warn about or reject the skew.
# buildDate is the release tag's time from the module proxy, so the build is reproducible.
vars=(
  "gitVersion=v$version"
  "gitMajor=$major"
  "gitMinor=$minor"
  "gitTreeState=clean"
)
ldflags="-s -w"
for kv in "${vars[@]}"; do
  ldflags+=" -X k8s.io/component-base/version.$kv -X k8s.io/client-go/pkg/version.$kv"
done
build_flags="CGO_ENABLED=0 GOFLAGS=-trimpath -buildvcs=false ldflags=[$ldflags]"

stamp_value="$(
  {
    cat go.mod go.sum VERSION etcd/main.go
    echo "${binaries[*]}"
    echo "$build_flags"
    "$GO" env GOOS GOARCH
    "$GO" version
  } | sha256sum | cut -d' ' -f1
)"

all_present() {
  local b
  for b in "${binaries[@]}"; do
    [ -x "$out/$b" ] || return 1
  done
  [ -f "$out/.stamp" ] && [ "$(cat "$out/.stamp")" = "$stamp_value" ]
}

if all_present; then
  echo "k8s-bin: $out is up to date (v$version)"
  exit 0
fi

mkdir -p "$out"
# One build at a time per cache: a developer and CI (or two make runs) share it.
exec 9>"$out/.lock"
if ! flock -n 9; then
  echo "k8s-bin: another build holds $out/.lock; waiting for it" >&2
  flock 9
fi
if all_present; then
  echo "k8s-bin: $out is up to date (v$version)"
  exit 0
fi
rm -f "$out/.stamp"

build_date="$("$GO" list -m -f '{{if .Time}}{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}{{end}}' \
  k8s.io/kubernetes 2>/dev/null || true)"
if [ -n "$build_date" ]; then
  ldflags+=" -X k8s.io/component-base/version.buildDate=$build_date"
  ldflags+=" -X k8s.io/client-go/pkg/version.buildDate=$build_date"
fi

export CGO_ENABLED=0
export GOFLAGS="-trimpath -buildvcs=false"
# Two cores: two packages compile at once; the linker of kube-apiserver peaks at a few GiB.
jobs="${K8S_BUILD_P:-$(nproc 2>/dev/null || echo 2)}"

declare -A pkg=(
  [kube-apiserver]=k8s.io/kubernetes/cmd/kube-apiserver
  [kube-controller-manager]=k8s.io/kubernetes/cmd/kube-controller-manager
  [kube-proxy]=k8s.io/kubernetes/cmd/kube-proxy
  [kube-scheduler]=k8s.io/kubernetes/cmd/kube-scheduler
  [etcd]=./etcd
)

timer=()
if [ -x /usr/bin/time ]; then
  timer=(/usr/bin/time -v -o "$out/.time.tmp")
fi

echo "k8s-bin: building Kubernetes v$version into $out (go build -p $jobs)"
for b in "${binaries[@]}"; do
  start=$SECONDS
  "${timer[@]}" "$GO" build -p "$jobs" -ldflags "$ldflags" -o "$out/.$b.tmp" "${pkg[$b]}"
  mv -f "$out/.$b.tmp" "$out/$b"
  line="$b: $((SECONDS - start)) s"
  if [ -f "$out/.time.tmp" ]; then
    rss="$(awk -F': ' '/Maximum resident set size/ {print $2}' "$out/.time.tmp")"
    line+=", peak RSS $((rss / 1024)) MiB"
    rm -f "$out/.time.tmp"
  fi
  echo "k8s-bin: $line"
  echo "$(date -u +%FT%TZ) $line" >>"$out/build.log"
done

"$out/kube-apiserver" --version
echo "$stamp_value" >"$out/.stamp"
echo "k8s-bin: done; $(du -sh "$out" | cut -f1) in $out"

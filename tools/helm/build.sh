#!/usr/bin/env bash
# Build Helm 3 and Helm 4 from the module versions pinned in v3/go.mod and v4/go.mod into a
# cache outside the repository, for the Helm tests (tests/integration/test_helm.py):
#
#   ${SLICEPLANE_HELM_CACHE:-$HOME/.cache/sliceplane/helm}/<VERSION>/helm
#
# Same reasons and shape as tools/k8s/build.sh: the machines reach only package registries
# (the Go module proxy serves Helm's sources, not its release binaries), a cold build is
# minutes on two cores, and a stamp per version (hash of go.mod, go.sum, VERSION, flags,
# toolchain) makes a warm cache return at once. Each major has its own module because the
# two pin different client-go versions and one module graph would force one on both.
#
# The ldflags are those of Helm's own Makefile for a release build: the version (what
# `helm version` prints and what a chart's `.Capabilities.HelmVersion` holds), a clean tree
# and, for Helm 3, the Kubernetes version its linter and default capabilities assume (the
# 1.<client-go minor>, as that Makefile computes it).
#
# Environment: SLICEPLANE_HELM_CACHE (cache root), GO (go binary), HELM_BUILD_P (go build -p),
# HELM_MAJORS (which to build, default "3 4").
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

if [ -z "${HOME:-}" ]; then
  HOME="$(getent passwd "$(id -u)" | cut -d: -f6)"
  export HOME
fi

cache_root="${SLICEPLANE_HELM_CACHE:-$HOME/.cache/sliceplane/helm}"
GO="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"
if [ ! -x "$GO" ]; then
  echo "helm-bin: no Go toolchain found (set GO=/path/to/go)" >&2
  exit 1
fi

export CGO_ENABLED=0
export GOFLAGS="-trimpath -buildvcs=false"
jobs="${HELM_BUILD_P:-$(nproc 2>/dev/null || echo 2)}"

build_one() {
  local major="$1"
  local dir="$here/v$major"
  local version module ldflags build_flags stamp_value out
  version="$(tr -d ' \n\r\t' <"$dir/VERSION")"
  module="helm.sh/helm/v$major"
  out="$cache_root/$version"

  cd "$dir"
  ldflags="-s -w -X $module/internal/version.version=v$version"
  ldflags+=" -X $module/internal/version.metadata= -X $module/internal/version.gitTreeState=clean"
  if [ "$major" = 3 ]; then
    local client_go k8s_major k8s_minor
    client_go="$(sed -n 's/^[[:space:]]*k8s.io\/client-go v0\.\([0-9]*\)\..*/\1/p' go.mod)"
    k8s_major=1
    k8s_minor="$client_go"
    for pkg in pkg/lint/rules pkg/chartutil; do
      ldflags+=" -X $module/$pkg.k8sVersionMajor=$k8s_major -X $module/$pkg.k8sVersionMinor=$k8s_minor"
    done
  fi
  build_flags="CGO_ENABLED=0 GOFLAGS=$GOFLAGS ldflags=[$ldflags]"
  stamp_value="$(
    {
      cat go.mod go.sum VERSION
      echo "$build_flags"
      "$GO" env GOOS GOARCH
      "$GO" version
    } | sha256sum | cut -d' ' -f1
  )"

  up_to_date() {
    [ -x "$out/helm" ] && [ -f "$out/.stamp" ] && [ "$(cat "$out/.stamp")" = "$stamp_value" ]
  }
  if up_to_date; then
    echo "helm-bin: $out is up to date (v$version)"
    return 0
  fi
  mkdir -p "$out"
  # One build at a time per version: a developer and CI (or two make runs) share the cache.
  exec 9>"$out/.lock"
  if ! flock -n 9; then
    echo "helm-bin: another build holds $out/.lock; waiting for it" >&2
    flock 9
  fi
  if up_to_date; then
    echo "helm-bin: $out is up to date (v$version)"
    exec 9>&-
    return 0
  fi
  rm -f "$out/.stamp"
  echo "helm-bin: building Helm v$version into $out (go build -p $jobs)"
  local start=$SECONDS
  "$GO" build -p "$jobs" -ldflags "$ldflags" -o "$out/.helm.tmp" "$module/cmd/helm"
  mv -f "$out/.helm.tmp" "$out/helm"
  echo "$(date -u +%FT%TZ) helm v$version: $((SECONDS - start)) s" >>"$out/build.log"
  "$out/helm" version --short
  echo "$stamp_value" >"$out/.stamp"
  echo "helm-bin: v$version done in $((SECONDS - start)) s"
  exec 9>&-
}

for major in ${HELM_MAJORS:-3 4}; do
  build_one "$major"
done

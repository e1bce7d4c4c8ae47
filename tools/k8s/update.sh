#!/usr/bin/env bash
# Regenerate tools/k8s/go.mod and go.sum for the Kubernetes version in tools/k8s/VERSION.
#
# k8s.io/kubernetes resolves its k8s.io/* libraries from ./staging/... inside its own
# repository; a module that depends on it from outside must replace each of them with the
# published tag of the same release (v0.<minor>.<patch>). The list and the etcd version are
# read from that release's own go.mod, so nothing here is maintained by hand.
# Usage: echo 1.37.3 > tools/k8s/VERSION && tools/k8s/update.sh && make k8s-bin
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"
GO="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"

version="$(tr -d ' \n\r\t' <VERSION)"
staging_version="v0.${version#*.}"
gomod="$("$GO" mod download -json "k8s.io/kubernetes@v$version" |
  sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')"
[ -f "$gomod" ] || { echo "update: no go.mod for k8s.io/kubernetes@v$version" >&2; exit 1; }

go_directive="$(awk '$1 == "go" {print $2; exit}' "$gomod")"
godebug="$(awk '$1 == "godebug" {print; exit}' "$gomod")"
# etcd's server is in k8s.io/kubernetes's module graph (integration tests); build that one.
etcd_version="$(awk '$1 == "go.etcd.io/etcd/server/v3" {print $2; exit}' "$gomod")"
mapfile -t staging < <(awk '$2 == "=>" && $3 ~ /^\.\/staging\// {print $1}' "$gomod")

{
  echo "// Pins the real Kubernetes control plane (and etcd) that sliceplane's tests run against."
  echo "// Generated from k8s.io/kubernetes's own go.mod by tools/k8s/update.sh: do not edit by hand;"
  echo "// change tools/k8s/VERSION and run that script."
  echo "module sliceplane.dev/tools/k8s"
  echo
  echo "go $go_directive"
  echo
  [ -n "$godebug" ] && { echo "$godebug"; echo; }
  echo "require ("
  echo "	go.etcd.io/etcd/server/v3 $etcd_version"
  echo "	k8s.io/kubernetes v$version"
  echo ")"
  echo
  echo "// k8s.io/kubernetes replaces each of these with ./staging/...; a module outside that"
  echo "// repository must point them at the published staging tags (v0.<minor>.<patch>)."
  echo "replace ("
  for m in "${staging[@]}"; do
    echo "	$m => $m $staging_version"
  done
  echo ")"
} >go.mod
rm -f go.sum
"$GO" mod tidy
echo "update: go.mod now pins k8s.io/kubernetes v$version, etcd $etcd_version," \
  "${#staging[@]} staging modules at $staging_version"

#!/usr/bin/env bash
# Build OpenTofu and the Terraform kubernetes provider from the module versions pinned in
# tofu/go.mod and provider-kubernetes/go.mod into a cache outside the repository, for the
# Terraform tests (tests/integration/test_terraform.py):
#
#   ${SLICEPLANE_TERRAFORM_CACHE:-$HOME/.cache/sliceplane/terraform}/tofu/<VERSION>/tofu
#   ${SLICEPLANE_TERRAFORM_CACHE:-...}/provider-kubernetes/<VERSION>/terraform-provider-kubernetes_v<VERSION>
#
# Same reasons and shape as tools/helm/build.sh: the machines reach only package registries
# (the Go module proxy serves the sources; neither GitHub's release binaries nor the
# Terraform/OpenTofu provider registries are reachable), a cold build is minutes on two
# cores, and a stamp per binary (hash of go.mod, go.sum, VERSION, flags, toolchain) makes a
# warm cache return at once. OpenTofu rather than Terraform: MPL-2.0 (Terraform is BUSL) and
# both are on the proxy; the provider speaks the same plugin protocol to either.
#
# The ldflags are those of the projects' own release builds: OpenTofu's goreleaser sets
# version.dev=no (so `tofu version` prints the release, not "-dev"); the provider's version
# is a Go constant ("dev") no flag can set, so its release pipeline sets nothing either.
# The provider binary is named as a provider package must be (terraform-provider-NAME_vVERSION).
#
# Environment: SLICEPLANE_TERRAFORM_CACHE (cache root), GO (go binary), TERRAFORM_BUILD_P
# (go build -p), TERRAFORM_PARTS (which to build, default "tofu provider-kubernetes").
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

if [ -z "${HOME:-}" ]; then
  HOME="$(getent passwd "$(id -u)" | cut -d: -f6)"
  export HOME
fi

cache_root="${SLICEPLANE_TERRAFORM_CACHE:-$HOME/.cache/sliceplane/terraform}"
GO="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"
if [ ! -x "$GO" ]; then
  echo "terraform-bin: no Go toolchain found (set GO=/path/to/go)" >&2
  exit 1
fi

export CGO_ENABLED=0
export GOFLAGS="-trimpath -buildvcs=false"
jobs="${TERRAFORM_BUILD_P:-$(nproc 2>/dev/null || echo 2)}"

build_one() {
  local part="$1"
  local dir="$here/$part"
  local version package binary ldflags build_flags stamp_value out
  version="$(tr -d ' \n\r\t' <"$dir/VERSION")"
  case "$part" in
    tofu)
      package="github.com/opentofu/opentofu/cmd/tofu"
      binary="tofu"
      ldflags="-s -w -X github.com/opentofu/opentofu/version.dev=no"
      ;;
    provider-kubernetes)
      package="github.com/hashicorp/terraform-provider-kubernetes"
      binary="terraform-provider-kubernetes_v$version"
      ldflags="-s -w"
      ;;
    *)
      echo "terraform-bin: unknown part $part" >&2
      return 1
      ;;
  esac
  out="$cache_root/$part/$version"

  cd "$dir"
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
    [ -x "$out/$binary" ] && [ -f "$out/.stamp" ] && [ "$(cat "$out/.stamp")" = "$stamp_value" ]
  }
  if up_to_date; then
    echo "terraform-bin: $out is up to date ($part v$version)"
    return 0
  fi
  mkdir -p "$out"
  # One build at a time per binary: a developer and CI (or two make runs) share the cache.
  exec 9>"$out/.lock"
  if ! flock -n 9; then
    echo "terraform-bin: another build holds $out/.lock; waiting for it" >&2
    flock 9
  fi
  if up_to_date; then
    echo "terraform-bin: $out is up to date ($part v$version)"
    exec 9>&-
    return 0
  fi
  rm -f "$out/.stamp"
  echo "terraform-bin: building $part v$version into $out (go build -p $jobs)"
  local start=$SECONDS
  "$GO" build -p "$jobs" -ldflags "$ldflags" -o "$out/.$binary.tmp" "$package"
  mv -f "$out/.$binary.tmp" "$out/$binary"
  echo "$(date -u +%FT%TZ) $part v$version: $((SECONDS - start)) s" >>"$out/build.log"
  if [ "$part" = tofu ]; then
    # Not the user's CLI configuration (a TF_CLI_CONFIG_FILE naming a missing file warns).
    env -u TF_CLI_CONFIG_FILE "$out/$binary" version
  fi
  echo "$stamp_value" >"$out/.stamp"
  echo "terraform-bin: $part v$version done in $((SECONDS - start)) s"
  exec 9>&-
}

for part in ${TERRAFORM_PARTS:-tofu provider-kubernetes}; do
  build_one "$part"
done

//go:build tools

// Package tools records the Helm command build.sh compiles, so that `go mod tidy` keeps
// every module it needs in go.mod and go.sum. The build tag keeps this file out of every
// real build (a main package cannot be imported).
package tools

import _ "helm.sh/helm/v3/cmd/helm"

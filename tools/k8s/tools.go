//go:build tools

// Package tools records the upstream commands build.sh compiles, so that
// `go mod tidy` keeps every module they need in go.mod and go.sum. The build
// tag keeps this file out of every real build (main packages cannot be imported).
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
)

//go:build tools

// Package tools keeps the provider's main package in this module's graph (go mod tidy).
package tools

import _ "github.com/hashicorp/terraform-provider-kubernetes"

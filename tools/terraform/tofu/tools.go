//go:build tools

// Package tools keeps cmd/tofu's imports in this module's graph (go mod tidy).
package tools

import _ "github.com/opentofu/opentofu/cmd/tofu"

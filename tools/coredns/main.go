// Command coredns is CoreDNS with only the plugins the differential tests and the DNS
// benchmark use: kubernetes (the oracle), bind, errors, log, metrics. Built by build.sh
// from the module version pinned in go.mod; never part of sliceplane itself.
package main

import (
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/metrics"
)

func main() { coremain.Run() }

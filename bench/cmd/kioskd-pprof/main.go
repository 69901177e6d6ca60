// Command kioskd-pprof is kioskd (cmd/kioskd) for profiling in the bench
// only: with KIOSKD_PPROF=127.0.0.1:PORT set it also serves net/http/pprof
// on that loopback address. The daemon itself carries no pprof.
package main

import (
	"fmt"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"

	"github.com/kioskd/kioskd/cli"
	_ "github.com/kioskd/kioskd/internal/timerslack" // sysmon: see the package
)

func main() {
	if addr := os.Getenv("KIOSKD_PPROF"); addr != "" {
		host, _, err := net.SplitHostPort(addr)
		if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
			fmt.Fprintln(os.Stderr, "kioskd-pprof: KIOSKD_PPROF must be a loopback address")
			os.Exit(2)
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			fmt.Fprintln(os.Stderr, "kioskd-pprof:", err)
			os.Exit(2)
		}
		go func() { _ = http.Serve(l, http.DefaultServeMux) }()
	}
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
}

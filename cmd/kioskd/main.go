// Command kioskd connects a kiosk's camera and microphone to a Digital
// Person server over WebRTC. See `kioskd help` and README.md.
package main

import (
	"os"

	"github.com/kioskd/kioskd/cli"
	_ "github.com/kioskd/kioskd/internal/timerslack" // sysmon: see the package
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
}

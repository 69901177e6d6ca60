// Package identity is who this kiosk is, for logs and the server: a
// stable kiosk id derived from /etc/machine-id and the host name. The
// machine id itself never leaves the machine: machine-id(5) asks that it
// not be exposed, as it is a unique and stable secret-ish handle; what is
// logged and sent is a hash of it, specific to kioskd (as systemd's
// sd_id128_get_machine_app_specific), so that it cannot be joined with
// another application's.
package identity

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
)

// MachineIDFile is where systemd keeps the machine id.
const MachineIDFile = "/etc/machine-id"

// ErrNoMachineID matches a machine id file that is missing, empty
// (uninitialised, as in an image before first boot) or not 32 hex digits.
var ErrNoMachineID = errors.New("no machine id")

// appKey makes the hash kioskd's own (any fixed string would do; this
// one is kioskd's, so that the id differs from other applications').
const appKey = "kioskd kiosk id v1"

// Identity is what the start line logs and hello sends.
type Identity struct {
	// KioskID is "k-" and 20 hex digits of HMAC-SHA256(machine id),
	// stable for the life of the installation (machine-id(5)); "" when
	// there is no machine id.
	KioskID  string
	Hostname string
}

// Read reads the machine id in path (MachineIDFile) and the host name.
// Without a usable machine id, KioskID is "" and the error says why; the
// host name is still filled in.
func Read(path string) (Identity, error) {
	host, _ := os.Hostname()
	id := Identity{Hostname: host}
	data, err := os.ReadFile(path)
	if err != nil {
		return id, fmt.Errorf("%w: %w", ErrNoMachineID, err)
	}
	m := strings.TrimSpace(string(data))
	if len(m) != 32 || strings.Trim(m, "0123456789abcdef") != "" {
		return id, fmt.Errorf("%w: %s does not hold 32 lower-case hex digits", ErrNoMachineID, path)
	}
	id.KioskID = KioskID(m)
	return id, nil
}

// KioskID hashes a machine id into the kiosk id.
func KioskID(machineID string) string {
	mac := hmac.New(sha256.New, []byte(appKey))
	mac.Write([]byte(machineID))
	return "k-" + hex.EncodeToString(mac.Sum(nil))[:20]
}

package status

import "github.com/kioskd/kioskd/contract"

// StaffHint is what a failed connect means on a kiosk and what staff
// should check: one row of the README's "Error codes" table (its test
// keeps the two equal), shown by `kioskd status` under Last error.
type StaffHint struct {
	Code    int    // the LED code: how many times the error LED flashes
	Meaning string // what it means on a kiosk
	Check   string // what to check
}

// staffHints is the README's table, by error name.
var staffHints = map[contract.ErrorName]StaffHint{
	contract.NoUserMedia:            {Meaning: "a required camera or microphone is missing, busy or not allowed", Check: "cables, USB hub, another program using the device"},
	contract.NoScene:                {Meaning: "the server has no Digital Person free (busy)", Check: "nothing; kioskd retries. If it lasts, call support"},
	contract.ServerConnectionFailed: {Meaning: "the server cannot be reached (network, TLS, or the connection dropped while connecting)", Check: "network cable / Wi-Fi, firewall, proxy"},
	contract.NotSupported:           {Meaning: "a device is there but cannot be used (format, build without camera support)", Check: "the configuration or the device model; kioskd does not retry until that changes"},
	contract.MediaStreamFailed:      {Meaning: "video/audio could not be set up, or a camera/microphone stopped", Check: "network (UDP may be blocked), camera/microphone cables"},
	contract.SessionTimeout:         {Meaning: "connecting took too long", Check: "network speed; the server's load"},
	contract.ControlFailed:          {Meaning: "the server could not start its conversation control", Check: "server side: call support"},
	contract.NoSessionToResume:      {Meaning: "the previous session had expired; a new one starts at once", Check: "nothing (shows only briefly)"},
}

// detailHints are the hints of an error name that carries a detail,
// keyed "name/detail"; they win over the name's own hint (the README's
// row of the detail's LED rhythm).
var detailHints = map[string]StaffHint{
	"serverConnectionFailed/unauthorized": {Meaning: "the server refused the kiosk's credential (its token)", Check: "nothing on site: call support: the kiosk's credential was refused"},
	"serverConnectionFailed/clock":        {Meaning: "the system clock is wrong (before this kioskd was built), so the server's certificate is not valid yet; waiting for time sync", Check: "nothing while time sync catches up (NTP reachable? `timedatectl`); not the network cable"},
}

// HintFor returns the staff hint of an error name as the status carries
// it ("serverConnectionFailed") with its detail ("" if none); false for a
// name kioskd does not know.
func HintFor(name, detail string) (StaffHint, bool) {
	n, ok := contract.ParseErrorName(name)
	if !ok {
		return StaffHint{}, false
	}
	h := staffHints[n]
	if d, ok := detailHints[name+"/"+detail]; ok && detail != "" {
		h = d
	}
	h.Code = n.Code()
	return h, true
}

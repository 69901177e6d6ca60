package audio

// #cgo LDFLAGS: -ldl
// int kioskd_alsa_install(void);
import "C"

import (
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
)

// alsa-lib writes its errors to stderr by default, as raw lines such as
// "ALSA lib confmisc.c:855:(parse_card) cannot find card '0'": eight of
// them for every retry of a kiosk without a sound card, with no session
// id, in no log format. kioskd installs its own handler (alsalog.c) the
// first time it touches ALSA: while a device opens, the lines are
// collected and logged at Debug through the opener's logger (with the
// session id its handler stamps), and the first one, the cause, goes into
// the open's error, so the failure is said once; lines outside an open
// (rare: libasound on a device's thread) are logged at Warn.

// alsaLine is one error report of alsa-lib.
type alsaLine struct {
	file, function string
	line           int
	err            int // an errno, 0 if none
	msg            string
}

func (l alsaLine) attrs() []any {
	as := []any{"alsa_error", l.msg, "alsa_source", fmt.Sprintf("%s:%d", l.file, l.line), "alsa_function", l.function}
	if l.err != 0 {
		as = append(as, "alsa_errno", syscall.Errno(max(l.err, -l.err)).Error())
	}
	return as
}

var (
	alsaInstall sync.Once
	alsaOpens   sync.Mutex // one open at a time, so the lines collected are the open's

	alsaMu      sync.Mutex // guards alsaCollect (the handler must not take alsaOpens)
	alsaCollect *[]alsaLine

	alsaLog atomic.Pointer[slog.Logger] // for lines outside an open: the last opener's logger
)

// installALSAHandler sets kioskd's alsa-lib error handler once per
// process. Without libasound it does nothing: miniaudio then reports
// ErrNoALSA on its own.
func installALSAHandler() {
	alsaInstall.Do(func() { C.kioskd_alsa_install() })
}

//export kioskdALSAError
func kioskdALSAError(file *C.char, line C.int, function *C.char, err C.int, msg *C.char) {
	l := alsaLine{file: C.GoString(file), line: int(line), function: C.GoString(function), err: int(err), msg: strings.TrimSpace(C.GoString(msg))}
	alsaMu.Lock()
	if alsaCollect != nil {
		*alsaCollect = append(*alsaCollect, l)
		alsaMu.Unlock()
		return
	}
	alsaMu.Unlock()
	log := alsaLog.Load()
	if log == nil {
		log = slog.Default()
	}
	log.Warn("alsa-lib: "+l.msg, l.attrs()...)
}

// withALSALines runs f (anything that opens ALSA devices) with alsa-lib's
// error lines collected, one such call at a time in the process; the
// lines are logged at Debug on log and returned.
func withALSALines(log *slog.Logger, f func()) []alsaLine {
	installALSAHandler()
	alsaOpens.Lock()
	defer alsaOpens.Unlock()
	if log != nil {
		alsaLog.Store(log)
	}
	var lines []alsaLine
	alsaMu.Lock()
	alsaCollect = &lines
	alsaMu.Unlock()
	f()
	alsaMu.Lock()
	alsaCollect = nil
	alsaMu.Unlock()
	if log != nil {
		for _, l := range lines {
			log.Debug("alsa-lib: "+l.msg, l.attrs()...)
		}
	}
	return lines
}

// alsaCause is what alsa-lib said first during a failed open (the cause;
// what follows are its consequences), "" if it said nothing.
func alsaCause(lines []alsaLine) string {
	if len(lines) == 0 {
		return ""
	}
	return lines[0].msg
}

package dpsim

import (
	"flag"
	"fmt"
	"strconv"
	"strings"
)

// RegisterFlags binds cfg's fields to command-line flags on fs (cmd/dpsim
// and `kioskd demo` use them). Defaults are cfg's current values, so start
// from a Config whose Scenario is DefaultScenario. The token has no flag
// here: a token on the command line is visible to every user; cmd/dpsim
// reads it from a file or the environment.
func (cfg *Config) RegisterFlags(fs *flag.FlagSet) {
	sc := &cfg.Scenario
	fs.DurationVar(&cfg.Heartbeat, "heartbeat", cfg.Heartbeat, "ping interval, announced to the client as heartbeat_ms: 1s to 30s (0: 5s)")
	fs.Float64Var(&cfg.VoiceHz, "voice-hz", cfg.VoiceHz, "frequency of the DP's voice tone (0: 880)")
	fs.Var(sizeFlag{&cfg.VideoWidth, &cfg.VideoHeight}, "video-size", "DP video size WxH (default 320x240)")
	fs.IntVar(&cfg.VideoFPS, "video-fps", cfg.VideoFPS, "DP video frame rate (0: 15)")
	fs.IntVar(&cfg.VideoBitrate, "video-bitrate", cfg.VideoBitrate, "DP video bitrate in bit/s (0: 150000)")
	fs.BoolVar(&cfg.NoTWCC, "no-twcc", cfg.NoTWCC, "decline transport-wide congestion control feedback (the kiosk then sends video at a fixed rate)")
	fs.DurationVar(&cfg.AnalysisWindow, "analysis-window", cfg.AnalysisWindow, "window of the kiosk's audio analysed (0: 1s)")
	fs.BoolVar(&cfg.ICELoopbackOnly, "ice-loopback", cfg.ICELoopbackOnly, "gather only 127.0.0.1 ICE candidates (server and kiosk on one machine)")
	fs.Var(listFlag{&cfg.ICEPublicIPs}, "ice-public-ip", "public IP to announce instead of the host's (1:1 NAT); repeatable or comma-separated")
	fs.Var(portRangeFlag{&cfg.ICEPortMin, &cfg.ICEPortMax}, "ice-ports", "UDP port range for media, MIN-MAX (default: any)")
	fs.Var(listFlag{&cfg.AllowedOrigins}, "allow-origin", "web origin (https://host[:port]) whose pages may connect from a browser; repeatable or comma-separated (default: none)")
	fs.Var(listFlag{&cfg.TURNURLs}, "turn-url", "turn: or turns: URL handed to every connection in ice_servers with a per-session credential (needs --turn-secret-file); repeatable or comma-separated")
	fs.DurationVar(&cfg.TURNTTL, "turn-ttl", cfg.TURNTTL, "validity of the minted TURN credentials (0: 1h)")
	fs.IntVar(&cfg.HistoryLimit, "history", cfg.HistoryLimit, "ended sessions kept in /sessions (0: 1000)")

	fs.IntVar(&sc.QueuePosition, "queue-position", sc.QueuePosition, "queue fresh sessions at this position, counting down to 1")
	fs.DurationVar(&sc.QueueDelay, "queue-delay", sc.QueueDelay, "time per queue position")
	fs.DurationVar(&sc.SearchingDelay, "searching-delay", sc.SearchingDelay, "time in SearchingForDigitalPerson")
	fs.DurationVar(&sc.AssetsDelay, "assets-delay", sc.AssetsDelay, "time in DownloadingAssets")
	fs.DurationVar(&sc.ConnectingDelay, "connecting-delay", sc.ConnectingDelay, "DP start-up time in ConnectingToDigitalPerson")
	fs.DurationVar(&sc.ResumeWindow, "resume-window", sc.ResumeWindow, "how long a disconnected session stays resumable (negative: never)")
	fs.DurationVar(&sc.ConnectTimeout, "connect-timeout", sc.ConnectTimeout, "close with sessionTimeout if not Connected this long after hello (negative: never)")
	fs.DurationVar(&sc.MediaTimeout, "media-timeout", sc.MediaTimeout, "close with mediaStreamFailed if WebRTC is not connected this long after the answer")
	fs.DurationVar(&sc.IdleTimeout, "idle-timeout", sc.IdleTimeout, "close a Connected session with sessionTimeout after this long (0: never)")
	fs.Var(&sc.NoScene, "no-scene", "refuse the first N fresh sessions with noScene (N, always or never)")
	fs.Var(&sc.ControlFailed, "control-failed", "fail the first N session starts with controlFailed (N, always or never)")
	fs.Var(&sc.ICEFailure, "ice-failure", "break ICE for the first N offers (N, always or never)")
	fs.Var(&sc.Stall, "stall", "never leave --stall-at on the first N attempts (N, always or never)")
	fs.Var(&sc.StallAt, "stall-at", "step to stall in: searching, assets or connecting (default connecting: never ready)")
	fs.Var(&sc.Drop, "drop", "cut the control socket of the first N Connected sessions (N, always or never)")
	fs.DurationVar(&sc.DropAfter, "drop-after", sc.DropAfter, "time after Connected before --drop cuts the socket")
	fs.Var(&sc.Silence, "silence", "go silent on the first N attempts (N, always or never)")
	fs.Var(&sc.SilenceAt, "silence-at", "step at which --silence starts: searching, assets, connecting or connected (default connected)")
	fs.DurationVar(&sc.SilenceAfter, "silence-after", sc.SilenceAfter, "time after --silence-at before going silent")
	fs.Var(&sc.Hostile, "hostile", "misbehave on the first N connections (N, always or never), as --hostile-modes says")
	fs.Var(hostileFlag{&sc.HostileModes}, "hostile-modes", fmt.Sprintf("comma-separated: %v", AllHostileModes))
}

type sizeFlag struct{ w, h *int }

func (f sizeFlag) String() string {
	if f.w == nil || *f.w == 0 {
		return ""
	}
	return fmt.Sprintf("%dx%d", *f.w, *f.h)
}

func (f sizeFlag) Set(s string) error {
	ws, hs, ok := strings.Cut(strings.ToLower(s), "x")
	w, err1 := strconv.Atoi(ws)
	h, err2 := strconv.Atoi(hs)
	if !ok || err1 != nil || err2 != nil {
		return fmt.Errorf("%q: want WxH", s)
	}
	*f.w, *f.h = w, h
	return nil
}

type listFlag struct{ l *[]string }

func (f listFlag) String() string {
	if f.l == nil {
		return ""
	}
	return strings.Join(*f.l, ",")
}

func (f listFlag) Set(s string) error {
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" {
			*f.l = append(*f.l, x)
		}
	}
	return nil
}

type portRangeFlag struct{ min, max *uint16 }

func (f portRangeFlag) String() string {
	if f.min == nil || *f.min == 0 {
		return ""
	}
	return fmt.Sprintf("%d-%d", *f.min, *f.max)
}

func (f portRangeFlag) Set(s string) error {
	a, b, ok := strings.Cut(s, "-")
	lo, err1 := strconv.ParseUint(a, 10, 16)
	hi, err2 := strconv.ParseUint(b, 10, 16)
	if !ok || err1 != nil || err2 != nil || lo == 0 || lo > hi {
		return fmt.Errorf("%q: want MIN-MAX", s)
	}
	*f.min, *f.max = uint16(lo), uint16(hi)
	return nil
}

type hostileFlag struct{ l *[]HostileMode }

func (f hostileFlag) String() string {
	if f.l == nil {
		return ""
	}
	var s []string
	for _, m := range *f.l {
		s = append(s, string(m))
	}
	return strings.Join(s, ",")
}

func (f hostileFlag) Set(s string) error {
	m, err := ParseHostileModes(s)
	if err != nil {
		return err
	}
	*f.l = append(*f.l, m...)
	return nil
}

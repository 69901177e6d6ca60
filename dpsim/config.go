package dpsim

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/kioskd/kioskd/dpwire"
)

// ControlPath is the path of the control endpoint.
const ControlPath = "/v1/session"

// Config configures a Server. The zero value is usable: no token, default
// heartbeat, 880 Hz voice, 320x240 video at 15 fps, and a Scenario in
// which nothing goes wrong and nothing waits.
type Config struct {
	// Token, if set, must be presented at the upgrade (401 otherwise), as
	// "Authorization: Bearer <token>" or, from a browser, as a
	// Sec-WebSocket-Protocol entry (dpwire.BearerProtocol). It is never
	// logged.
	Token string
	// AllowedOrigins are the web origins (scheme://host[:port]) whose
	// pages may open the control channel from a browser; a request with
	// any other Origin header is refused with 403. Kiosks send no Origin.
	AllowedOrigins []string
	// Heartbeat is the ping interval the server announces in `session`
	// (heartbeat_ms) and uses itself: dpwire.MinHeartbeat to
	// dpwire.MaxHeartbeat; 0 means dpwire.DefaultHeartbeat.
	Heartbeat time.Duration

	// VoiceHz is the frequency of the Digital Person's voice (a tone);
	// 0 means 880 Hz. echo_dbfs measures it in what the kiosk sends.
	VoiceHz float64
	// The Digital Person's video: a synthetic test pattern; zeros mean
	// 320x240 at 15 fps and 150 kbit/s, cheap to encode.
	VideoWidth, VideoHeight, VideoFPS int
	VideoBitrate                      int
	// NoTWCC declines transport-wide congestion control: the answer has
	// no transport-cc, and no feedback is sent (a server that does not
	// help the kiosk estimate its uplink).
	NoTWCC bool
	// AnalysisWindow is how much of the kiosk's most recent audio the
	// analysis looks at (dominant_hz, echo_dbfs); 0 means 1 s.
	AnalysisWindow time.Duration

	// ICELoopbackOnly gathers only 127.0.0.1 host candidates (UDP): for
	// tests and a server on the kiosk itself. Otherwise every interface
	// but loopback is used.
	ICELoopbackOnly bool
	// ICEPublicIPs, if set, replace the host candidates' addresses (a
	// server behind 1:1 NAT).
	ICEPublicIPs []string
	// ICEPortMin and ICEPortMax bound the UDP ports for media; zeros mean
	// any ephemeral port.
	ICEPortMin, ICEPortMax uint16

	// TURNURLs, with TURNSecret, make dpsim hand every connection a TURN
	// server in an ice_servers message right after session
	// (docs/PROTOCOL.md section 4.11), with a credential minted per
	// session as coturn's REST API (use-auth-secret) expects it: username
	// "EXPIRY:SESSION_ID", credential base64(HMAC-SHA1(TURNSecret,
	// username)), valid TURNTTL (0: 1 h).
	TURNURLs   []string
	TURNSecret string
	TURNTTL    time.Duration

	// HistoryLimit is how many ended sessions /sessions keeps listing
	// (oldest forgotten first); 0 means 1000.
	HistoryLimit int

	// Scenario scripts the server's behaviour and its faults.
	Scenario Scenario
}

// Scenario is what the server does, step by step, and which faults it
// injects. A plain struct: tests set fields. Zero values mean "no delay"
// and "never" unless said otherwise; DefaultScenario has the small delays
// cmd/dpsim uses.
//
// Faults that strike a limited number of times take a Count: 0 never, N
// the first N occasions (counted over the server's life), Always every time.
type Scenario struct {
	// QueuePosition > 0 queues each fresh session: progress
	// SearchingForDigitalPerson carries queue_position QueuePosition,
	// then QueuePosition-1 … 1, one every QueueDelay. Resumed sessions
	// are never queued.
	QueuePosition int
	QueueDelay    time.Duration

	// Time spent in each step before the next one. ConnectingDelay is the
	// Digital Person's start-up: `ready` is sent no earlier than this
	// after progress ConnectingToDigitalPerson, and not before the
	// server's PeerConnection is connected. Resumed sessions skip them
	// (the DP is still there): a resume is as fast as WebRTC allows.
	SearchingDelay, AssetsDelay, ConnectingDelay time.Duration

	// ResumeWindow is how long a session that has been Connected stays
	// resumable after its control socket ended; 0 means 2 minutes, < 0
	// disables resumption (every resume gets noSessionToResume).
	ResumeWindow time.Duration
	// ConnectTimeout: a session not Connected this long after `hello` is
	// closed with sessionTimeout; 0 means 60 s, < 0 never.
	ConnectTimeout time.Duration
	// MediaTimeout: a PeerConnection not connected this long after the
	// answer is closed with mediaStreamFailed; 0 means 10 s.
	MediaTimeout time.Duration
	// IdleTimeout: a Connected session is closed with sessionTimeout
	// (not resumable) after this long (the visitor never interacted);
	// 0 means never.
	IdleTimeout time.Duration

	// NoScene refuses fresh sessions with noScene (after progress
	// SearchingForDigitalPerson): the first NoScene of them, or all.
	NoScene Count
	// ControlFailed fails session starts (fresh or resumed) with
	// controlFailed after progress DownloadingAssets.
	ControlFailed Count
	// ICEFailure breaks ICE for offers: the server ignores the client's
	// candidates and trickles one unreachable candidate (203.0.113.1, TEST-NET-3)
	// then the end marker, so no pair can connect; the client's ICE fails
	// and the server closes with mediaStreamFailed after MediaTimeout.
	ICEFailure Count
	// Stall never leaves StallAt (never-ready): the progress of StallAt is
	// sent, then nothing more for this attempt (heartbeats go on). With
	// StepConnecting the offer is answered and ICE connects, but `ready`
	// never comes. Default StallAt: StepConnecting.
	Stall   Count
	StallAt Step
	// Drop cuts the control socket (TCP close, no close message)
	// DropAfter after the session became Connected. The session stays
	// resumable.
	Drop      Count
	DropAfter time.Duration
	// Silence makes the server mute SilenceAfter after it reached
	// SilenceAt (default StepConnected): no messages, no pings, no pongs;
	// it still reads. The client must find it dead after 3 heartbeats.
	Silence      Count
	SilenceAt    Step
	SilenceAfter time.Duration
	// Hostile sends, on the first Hostile connections (or all), what the
	// HostileModes say, to test a client's robustness.
	Hostile      Count
	HostileModes []HostileMode
}

// DefaultScenario is cmd/dpsim's default: small step delays, as a real
// server would have, and no faults.
func DefaultScenario() Scenario {
	return Scenario{
		SearchingDelay:  20 * time.Millisecond,
		AssetsDelay:     30 * time.Millisecond,
		ConnectingDelay: 30 * time.Millisecond,
		QueueDelay:      500 * time.Millisecond,
		ResumeWindow:    2 * time.Minute,
		ConnectTimeout:  60 * time.Second,
		MediaTimeout:    10 * time.Second,
	}
}

// Count says how many times a fault strikes: 0 never, N > 0 the first N
// occasions, Always every one.
type Count int

// Always makes a fault strike every time.
const Always Count = -1

func (c Count) String() string {
	if c < 0 {
		return "always"
	}
	return strconv.Itoa(int(c))
}

// Set parses "always", "never" or a number (flag.Value).
func (c *Count) Set(s string) error {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "always", "all":
		*c = Always
		return nil
	case "never", "":
		*c = 0
		return nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return fmt.Errorf("%q: want a count, always or never", s)
	}
	*c = Count(n)
	return nil
}

// Step is a connection step, by its ConnectionState name
// (docs/BEHAVIOUR.md section 1).
type Step string

const (
	StepSearching  Step = "SearchingForDigitalPerson"
	StepAssets     Step = "DownloadingAssets"
	StepConnecting Step = "ConnectingToDigitalPerson"
	StepConnected  Step = "Connected"
)

func (s Step) String() string { return string(s) }

// Set parses a step name or its short form: searching, assets,
// connecting, connected (flag.Value).
func (s *Step) Set(v string) error {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "searching", strings.ToLower(string(StepSearching)):
		*s = StepSearching
	case "assets", "downloading", strings.ToLower(string(StepAssets)):
		*s = StepAssets
	case "connecting", strings.ToLower(string(StepConnecting)):
		*s = StepConnecting
	case "connected", strings.ToLower(string(StepConnected)):
		*s = StepConnected
	case "":
		*s = ""
	default:
		return fmt.Errorf("%q: want searching, assets, connecting or connected", v)
	}
	return nil
}

// HostileMode is one way the server misbehaves on purpose.
type HostileMode string

const (
	// HostileMalformed: right after `session`, a text frame that is not
	// JSON. The client must close with 1002 (serverConnectionFailed).
	HostileMalformed HostileMode = "malformed"
	// HostileUnknownType: a message of an unknown type after `session`,
	// before each progress and after `ready`. The client must ignore them
	// and connect normally.
	HostileUnknownType HostileMode = "unknown-type"
	// HostileOversized: right after `session`, a frame one byte over
	// 64 KiB. The client must close with 1009 (serverConnectionFailed).
	HostileOversized HostileMode = "oversized"
	// HostileBackwards: progress DownloadingAssets again after
	// ConnectingToDigitalPerson. The client must ignore it (a state never
	// goes backwards) and connect normally.
	HostileBackwards HostileMode = "progress-backwards"
	// HostileDuplicate: every progress twice. The client reports each
	// state once.
	HostileDuplicate HostileMode = "progress-duplicate"
	// HostileAnswerBeforeOffer: an `answer` (with an SDP that is not
	// usable) before progress ConnectingToDigitalPerson, so before the
	// client has offered. The client must ignore it; the real answer
	// follows its offer.
	HostileAnswerBeforeOffer HostileMode = "answer-before-offer"
	// HostileReadyEarly: `ready` together with progress
	// ConnectingToDigitalPerson, before any answer. The client must not be
	// Connected before its own PeerConnection is.
	HostileReadyEarly HostileMode = "ready-early"
	// HostileCandidateFlood: FloodCandidates unreachable candidates right
	// after the answer, far more than dpwire.MaxCandidates. The client
	// must end the attempt (a violation: serverConnectionFailed) instead
	// of feeding them all to its ICE agent.
	HostileCandidateFlood HostileMode = "candidate-flood"
)

// Hostile answers to an ICE restart (docs/PROTOCOL.md section 4.12); the
// connection itself is normal.
const (
	// HostileRestartGarbage: an answer whose SDP is not an answer to the
	// ice_restart. The client cannot apply it and resumes the session.
	HostileRestartGarbage HostileMode = "restart-garbage"
	// HostileRestartIgnored: no answer at all, as a 1.2 server that does
	// not know ice_restart. The client's restart deadline runs out and it
	// resumes the session.
	HostileRestartIgnored HostileMode = "restart-ignored"
)

// FloodCandidates is how many candidates HostileCandidateFlood sends.
const FloodCandidates = 20000

// AllHostileModes lists the hostile modes.
var AllHostileModes = []HostileMode{HostileMalformed, HostileUnknownType, HostileOversized,
	HostileBackwards, HostileDuplicate, HostileAnswerBeforeOffer, HostileReadyEarly, HostileCandidateFlood,
	HostileRestartGarbage, HostileRestartIgnored}

// ParseHostileModes parses a comma-separated list of modes.
func ParseHostileModes(s string) ([]HostileMode, error) {
	var out []HostileMode
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		ok := false
		for _, m := range AllHostileModes {
			if string(m) == f {
				out = append(out, m)
				ok = true
			}
		}
		if !ok {
			return nil, fmt.Errorf("unknown hostile mode %q (have %v)", f, AllHostileModes)
		}
	}
	return out, nil
}

// Close reasons. Before Connected the server refuses with an error name of
// docs/BEHAVIOUR.md section 2; after it, it ends with a disconnect reason of
// section 3.
const (
	ReasonNoScene                = "noScene"
	ReasonControlFailed          = "controlFailed"
	ReasonSessionTimeout         = "sessionTimeout"
	ReasonServerConnectionFailed = "serverConnectionFailed"
	ReasonMediaStreamFailed      = "mediaStreamFailed"
	ReasonNoSessionToResume      = "noSessionToResume"
	ReasonConversationEnded      = "conversationEnded"
	ReasonControlDisconnected    = "controlDisconnected"
	ReasonNormal                 = "normal"
	// Client-side error names: valid in a client's close, never sent by a server.
	ReasonNoUserMedia  = "noUserMedia"
	ReasonNotSupported = "notSupported"
)

// ServerCloseReasons are the reasons a server may send, for validating
// POST /close.
var ServerCloseReasons = []string{
	ReasonNoScene, ReasonControlFailed, ReasonSessionTimeout, ReasonServerConnectionFailed,
	ReasonMediaStreamFailed, ReasonNoSessionToResume, ReasonConversationEnded,
	ReasonControlDisconnected, ReasonNormal,
}

// ValidServerReason says whether a server may close with reason.
func ValidServerReason(reason string) bool {
	for _, r := range ServerCloseReasons {
		if r == reason {
			return true
		}
	}
	return false
}

// endsSession says whether a server close with reason ends the session
// (not resumable): all but controlDisconnected and normal do.
func endsSession(reason string) bool {
	return reason != ReasonControlDisconnected && reason != ReasonNormal
}

// withDefaults fills the zeros that mean a default and checks the rest.
func (cfg Config) withDefaults() (Config, error) {
	if (len(cfg.TURNURLs) == 0) != (cfg.TURNSecret == "") {
		return cfg, errors.New("TURN URLs and the TURN secret go together")
	}
	if cfg.TURNTTL == 0 {
		cfg.TURNTTL = time.Hour
	}
	if len(cfg.TURNURLs) > dpwire.MaxICEURLs {
		return cfg, fmt.Errorf("at most %d TURN URLs", dpwire.MaxICEURLs)
	}
	for _, u := range cfg.TURNURLs {
		if !dpwire.IsTURN(u) {
			return cfg, errors.New("TURN URL: the scheme must be turn or turns")
		}
		if err := dpwire.CheckICEURL(u); err != nil {
			return cfg, fmt.Errorf("TURN URL: %w", err)
		}
	}
	if cfg.Heartbeat == 0 {
		cfg.Heartbeat = dpwire.DefaultHeartbeat
	}
	if cfg.Heartbeat < dpwire.MinHeartbeat || cfg.Heartbeat > dpwire.MaxHeartbeat || cfg.Heartbeat%time.Millisecond != 0 {
		return cfg, fmt.Errorf("heartbeat %s: want whole milliseconds in %s..%s (docs/PROTOCOL.md section 4.2)", cfg.Heartbeat, dpwire.MinHeartbeat, dpwire.MaxHeartbeat)
	}
	if cfg.VoiceHz == 0 {
		cfg.VoiceHz = 880
	}
	if cfg.VoiceHz < 20 || cfg.VoiceHz > 20000 {
		return cfg, fmt.Errorf("voice frequency %.1f Hz out of 20..20000", cfg.VoiceHz)
	}
	if cfg.VideoWidth == 0 && cfg.VideoHeight == 0 {
		cfg.VideoWidth, cfg.VideoHeight = 320, 240
	}
	if cfg.VideoWidth < 16 || cfg.VideoHeight < 16 || cfg.VideoWidth > 4096 || cfg.VideoHeight > 4096 ||
		cfg.VideoWidth%2 != 0 || cfg.VideoHeight%2 != 0 {
		return cfg, fmt.Errorf("video size %dx%d: want even sizes in 16..4096", cfg.VideoWidth, cfg.VideoHeight)
	}
	if cfg.VideoFPS == 0 {
		cfg.VideoFPS = 15
	}
	if cfg.VideoFPS < 1 || cfg.VideoFPS > 60 {
		return cfg, fmt.Errorf("video rate %d fps out of 1..60", cfg.VideoFPS)
	}
	if cfg.VideoBitrate == 0 {
		cfg.VideoBitrate = 150_000
	}
	if cfg.AnalysisWindow == 0 {
		cfg.AnalysisWindow = time.Second
	}
	if cfg.AnalysisWindow < 100*time.Millisecond || cfg.AnalysisWindow > 10*time.Second {
		return cfg, fmt.Errorf("analysis window %s out of 100ms..10s", cfg.AnalysisWindow)
	}
	if cfg.HistoryLimit <= 0 {
		cfg.HistoryLimit = 1000
	}
	if (cfg.ICEPortMin == 0) != (cfg.ICEPortMax == 0) || cfg.ICEPortMin > cfg.ICEPortMax {
		return cfg, fmt.Errorf("ICE port range %d-%d", cfg.ICEPortMin, cfg.ICEPortMax)
	}
	sc := &cfg.Scenario
	if sc.ResumeWindow == 0 {
		sc.ResumeWindow = 2 * time.Minute
	}
	if sc.ConnectTimeout == 0 {
		sc.ConnectTimeout = 60 * time.Second
	}
	if sc.MediaTimeout <= 0 {
		sc.MediaTimeout = 10 * time.Second
	}
	if sc.StallAt == "" {
		sc.StallAt = StepConnecting
	}
	if sc.SilenceAt == "" {
		sc.SilenceAt = StepConnected
	}
	var errs []error
	if sc.StallAt == StepConnected {
		errs = append(errs, errors.New("stall-at Connected: a Connected session cannot stall; use silence"))
	}
	for _, st := range []Step{sc.StallAt, sc.SilenceAt} {
		var x Step
		if err := x.Set(string(st)); err != nil {
			errs = append(errs, err)
		}
	}
	if sc.QueuePosition < 0 || sc.QueuePosition > dpwire.MaxQueuePosition {
		errs = append(errs, fmt.Errorf("queue position %d out of 0..%d", sc.QueuePosition, dpwire.MaxQueuePosition))
	}
	for name, d := range map[string]time.Duration{"queue delay": sc.QueueDelay, "searching delay": sc.SearchingDelay,
		"assets delay": sc.AssetsDelay, "connecting delay": sc.ConnectingDelay, "idle timeout": sc.IdleTimeout,
		"drop after": sc.DropAfter, "silence after": sc.SilenceAfter} {
		if d < 0 {
			errs = append(errs, fmt.Errorf("negative %s", name))
		}
	}
	for _, c := range []Count{sc.NoScene, sc.ControlFailed, sc.ICEFailure, sc.Stall, sc.Drop, sc.Silence, sc.Hostile} {
		if c < Always {
			errs = append(errs, fmt.Errorf("count %d: want >= 0 or Always", int(c)))
		}
	}
	for _, m := range sc.HostileModes {
		if _, err := ParseHostileModes(string(m)); err != nil {
			errs = append(errs, err)
		}
	}
	return cfg, errors.Join(errs...)
}

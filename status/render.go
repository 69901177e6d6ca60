package status

import (
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"
)

// FormatLine is the one-line progress view used by `kioskd status --watch`
// and the demo:
//
//	[###·] 75% ConnectingToDigitalPerson  session 3f2a9c1e…
//	[#···] 25% SearchingForDigitalPerson  queue 3
//	[····] 0% Disconnected  retrying after noScene (attempt 2)
//
// The bar has one cell per step 1–4.
func FormatLine(st Status) string { return formatLine(st, false) }

// formatLine is FormatLine with the session id shortened or, wholeID,
// whole (`kioskd status --watch`: support searches the journal with it).
func formatLine(st Status, wholeID bool) string {
	n := min(max(st.CurrentStep, 0), 4)
	var b strings.Builder
	b.WriteString("[")
	b.WriteString(strings.Repeat("#", n))
	b.WriteString(strings.Repeat("·", 4-n))
	fmt.Fprintf(&b, "] %d%% %s", st.PercentageLoaded, st.State)
	if st.QueuePosition > 0 && st.CurrentStep == 1 {
		fmt.Fprintf(&b, "  queue %d", st.QueuePosition)
	}
	if st.ConversationState != "" {
		b.WriteString("  DP " + clean(st.ConversationState))
	}
	if st.NextRetry != nil {
		if st.LastError != "" {
			fmt.Fprintf(&b, "  retrying after %s (attempt %d)", st.LastErrorText(), st.Attempt)
		} else {
			fmt.Fprintf(&b, "  retrying (attempt %d)", st.Attempt)
		}
	}
	if st.SessionID != "" {
		b.WriteString("  session ")
		if wholeID {
			b.WriteString(clean(st.SessionID))
		} else {
			b.WriteString(shortID(clean(st.SessionID)))
		}
	}
	return b.String()
}

func shortID(id string) string {
	const keep = 8
	if utf8.RuneCountInString(id) <= keep {
		return id
	}
	return string([]rune(id)[:keep]) + "…"
}

// clean drops control characters (a session id comes from the server).
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
}

// FormatText is the multi-line view of `kioskd status`.
func FormatText(st Status, now time.Time) string {
	var b strings.Builder
	row := func(k, v string) { fmt.Fprintf(&b, "%-12s %s\n", k+":", v) }
	row("State", fmt.Sprintf("%s (step %d/%d, %d%%)", st.State, st.CurrentStep, st.TotalSteps, st.PercentageLoaded))
	if st.SessionID != "" {
		row("Session", clean(st.SessionID))
	} else {
		row("Session", "-")
	}
	if st.Since != nil {
		row("Since", fmt.Sprintf("%s (%s ago)", st.Since.Local().Format(time.DateTime), ago(now.Sub(*st.Since))))
	}
	if st.QueuePosition > 0 {
		row("Queue", fmt.Sprint(st.QueuePosition))
	}
	if st.ConversationState != "" {
		row("DP", clean(st.ConversationState)) // the conversation state
	}
	if st.LastError != "" {
		lastError(row, st.LastError, st.LastErrorDetail)
	}
	if st.LastReason != "" {
		row("Last reason", st.LastReason)
	}
	if st.Attempt > 0 {
		row("Attempt", fmt.Sprint(st.Attempt))
	}
	if st.NextRetry != nil {
		d := st.NextRetry.Sub(now)
		if d < 0 {
			d = 0
		}
		row("Next retry", "in "+ago(d))
	}
	row("Connects", fmt.Sprint(st.Connects))
	if st.Network != nil {
		row("Network", st.Network.String())
	}
	return b.String()
}

// lastError writes the Last error row, with its LED code and meaning, and
// the Check row: what staff should look at (README, "Error codes"). detail
// refines the name where the daemon reports one.
func lastError(row func(k, v string), name, detail string) {
	h, ok := HintFor(name, detail)
	shown := clean(name)
	if detail != "" {
		shown += " (" + clean(detail) + ")"
	}
	if !ok {
		row("Last error", shown)
		return
	}
	row("Last error", fmt.Sprintf("%s, LED code %d: %s", shown, h.Code, h.Meaning))
	row("Check", h.Check)
}

func ago(d time.Duration) string {
	switch {
	case d < 0:
		d = 0
	case d >= time.Minute:
		return d.Truncate(time.Second).String()
	}
	return d.Round(100 * time.Millisecond).String()
}

// Renderer writes FormatLine for each status: on a terminal (live) it
// rewrites one line with a carriage return; elsewhere it writes plain lines.
type Renderer struct {
	w    io.Writer
	live bool
	prev int // runes of the last live line, to blank its tail
	// WholeID shows the whole session id instead of its first characters.
	WholeID bool
}

// NewRenderer returns a renderer; live is usually IsTerminal(w).
func NewRenderer(w io.Writer, live bool) *Renderer { return &Renderer{w: w, live: live} }

// Render shows st.
func (r *Renderer) Render(st Status) error {
	line := formatLine(st, r.WholeID)
	if !r.live {
		_, err := io.WriteString(r.w, line+"\n")
		return err
	}
	n := utf8.RuneCountInString(line)
	pad := ""
	if r.prev > n {
		pad = strings.Repeat(" ", r.prev-n)
	}
	r.prev = n
	_, err := io.WriteString(r.w, "\r"+line+pad)
	return err
}

// Finish ends a live line with a newline; plain output needs nothing.
func (r *Renderer) Finish() error {
	if !r.live || r.prev == 0 {
		return nil
	}
	r.prev = 0
	_, err := io.WriteString(r.w, "\n")
	return err
}

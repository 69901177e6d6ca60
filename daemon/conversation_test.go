package daemon_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/kioskd/kioskd/config"
	"github.com/kioskd/kioskd/contract"
	"github.com/kioskd/kioskd/daemon"
	"github.com/kioskd/kioskd/dpsim"
	"github.com/kioskd/kioskd/dpsim/dptest"
	"github.com/kioskd/kioskd/internal/clock"
	"github.com/kioskd/kioskd/internal/testlog"
	"github.com/kioskd/kioskd/leds/ledstest"
	"github.com/kioskd/kioskd/session/sessiontest"
	"github.com/kioskd/kioskd/status"
)

// The DP's conversation state, from a real dpsim (conversation_state,
// protocol 1.5) through the whole daemon: the talk LED (leds.lines.talk)
// steady while it listens, blinking while it thinks, off while it speaks;
// `kioskd status` and /metrics say the same. The profile's LEDs stay green.
func TestConversationStateThroughTheDaemon(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dp := dptest.NewServer(t, dpsim.Config{Scenario: dpsim.DefaultScenario()})
	cfg := labConfig(t, dp)
	cfg.Status.MetricsListen = freeAddr(t)
	cfg.LEDs.Lines = map[string]string{"red": "GPIO17", "amber": "GPIO27", "green": "GPIO22", config.LEDTalk: "GPIO5"}
	backend := ledstest.New(clock.Real)
	rec := sessiontest.NewRecorder()
	d, err := daemon.New(cfg, daemon.Options{
		Log: testlog.New(t, slog.LevelInfo), LEDs: backend,
		Observers: []func(<-chan contract.Event){rec.Observe},
	})
	if err != nil {
		t.Fatal(err)
	}
	run(t, d)
	rec.WaitFor(t, ctx, "Connected", func(evs []contract.Event) bool { return len(connectedIDs(evs)) > 0 })
	if st, err := status.Query(ctx, cfg.Status.Socket); err != nil || st.ConversationState != "" {
		t.Fatalf("status before the DP said anything: %+v, %v", st, err)
	}
	talk := func(what string, cond func([]ledstest.Op) bool) {
		t.Helper()
		if err := backend.Wait(ctx, cond); err != nil {
			t.Fatalf("talk LED %s: %v", what, backend.Ops())
		}
		// The LEDs have seen the conversation event: green is still on.
		if g := backend.State("green"); !g.On {
			t.Errorf("green %+v with the talk LED %s", g, what)
		}
	}
	check := func(state string) {
		t.Helper()
		rec.WaitFor(t, ctx, state, func(evs []contract.Event) bool {
			e, ok := lastKind(evs, contract.EventConversation)
			return ok && e.Conversation.String() == state
		})
		st, err := status.Query(ctx, cfg.Status.Socket)
		if err != nil || st.ConversationState != state || st.State != "Connected" {
			t.Fatalf("status: %+v, %v; want Connected and %s", st, err, state)
		}
		// The metrics follow the bus on their own subscription: scrape
		// until they have caught up (they signal nothing).
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			m, err := scrape(ctx, "http://"+cfg.Status.MetricsListen+"/metrics")
			if err != nil {
				t.Fatal(err)
			}
			ok := true
			for _, c := range contract.AllConversationStates {
				want := 0.0
				if c.String() == state {
					want = 1
				}
				ok = ok && m[`kioskd_conversation_state{state="`+c.String()+`"}`] == want
			}
			if ok {
				break
			}
			select {
			case <-ctx.Done():
				t.Fatalf("kioskd_conversation_state never showed %s: %v", state, m)
			case <-tick.C:
			}
		}
	}

	dp.SetConversationState("listening")
	check("listening")
	talk("on", func(ops []ledstest.Op) bool { return ledstest.StateOf(ops, config.LEDTalk).On })

	mark := backend.Len()
	dp.SetConversationState("thinking")
	check("thinking")
	talk("blinking", func(ops []ledstest.Op) bool { // in software: on, off, on again
		n := 0
		for _, o := range ops[mark:] {
			if o.Name == config.LEDTalk && o.Kind == ledstest.OpSet && o.On {
				n++
			}
		}
		return n >= 2
	})

	dp.SetConversationState("speaking")
	check("speaking")
	talk("off", func(ops []ledstest.Op) bool { return ledstest.StateOf(ops, config.LEDTalk) == ledstest.State{} })
}

func lastKind(evs []contract.Event, k contract.EventKind) (contract.Event, bool) {
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].Kind == k {
			return evs[i], true
		}
	}
	return contract.Event{}, false
}

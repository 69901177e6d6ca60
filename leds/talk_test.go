package leds_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/kioskd/kioskd/config"
	"github.com/kioskd/kioskd/contract"
	"github.com/kioskd/kioskd/internal/clock/clocktest"
	"github.com/kioskd/kioskd/leds"
	"github.com/kioskd/kioskd/leds/ledstest"
)

// The optional talk LED (leds.lines.talk) follows the Digital Person's
// conversation state on the fake backend: steady while it listens, 2 Hz
// while it thinks, off while it speaks and when the state is gone (the
// call ended); the profile's LEDs do not move for it.
func TestTalkLED(t *testing.T) {
	clk := clocktest.New(t0)
	fake := ledstest.New(clk)
	cfg := section(config.LEDs{Profile: string(leds.Traffic)})
	cfg.Lines = map[string]string{"red": "GPIO17", "amber": "GPIO27", "green": "GPIO22", config.LEDTalk: "GPIO5"}
	ctl, err := leds.New(cfg, fake, clk, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, clk: clk, bus: contract.NewBus(), ctl: ctl, fake: fake, logs: &syncBuffer{}, done: make(chan error, 1)}
	events, cancel := r.bus.Subscribe()
	ctx, stop := context.WithCancel(context.Background())
	go func() { r.done <- ctl.Run(ctx, events) }()
	t.Cleanup(func() { stop(); cancel(); <-r.done })
	r.waitLen(5) // four LEDs off, red on
	if got := setsOf(fake.Ops(), 0, config.LEDTalk); len(got) != 1 || got[0].on {
		t.Fatalf("talk at start %v, want one off", got)
	}
	r.state(contract.Connected, 2) // red off, green on
	conv := func(c contract.ConversationState, want int) {
		t.Helper()
		r.publish(contract.Event{Kind: contract.EventConversation, State: contract.Connected, Conversation: c}, want)
	}

	mark := fake.Len()
	conv(contract.ConversationListening, 1)
	checkSets(t, setsOf(fake.Ops(), mark, config.LEDTalk), []toggle{{0, true}})
	if clk.Waiters() != 0 {
		t.Error("a timer is armed while every LED is steady")
	}

	mark = fake.Len()
	conv(contract.ConversationThinking, 1) // restarts lit, then 2 Hz in software
	r.clk.BlockUntil(1)
	r.step(time.Second, 125*ms)
	checkSets(t, setsOf(fake.Ops(), mark, config.LEDTalk), squareWave(0, 250*ms, time.Second))

	mark = fake.Len()
	conv(contract.ConversationSpeaking, 1)
	checkSets(t, setsOf(fake.Ops(), mark, config.LEDTalk), []toggle{{time.Second, false}})

	conv(contract.ConversationListening, 1)
	mark = fake.Len()
	conv(contract.ConversationNone, 1) // the call ended
	checkSets(t, setsOf(fake.Ops(), mark, config.LEDTalk), []toggle{{time.Second, false}})
	for _, o := range fake.Ops()[7:] {
		if o.Name != config.LEDTalk {
			t.Errorf("the conversation moved %v", o)
		}
	}
}

// Talk's patterns, one per conversation state; stopped is off.
func TestTalkPatterns(t *testing.T) {
	want := map[contract.ConversationState]leds.Pattern{
		contract.ConversationNone: leds.Off, contract.ConversationIdle: leds.Off, contract.ConversationInitializing: leds.Off,
		contract.ConversationListening: leds.On, contract.ConversationThinking: leds.Blink(leds.TalkHz), contract.ConversationSpeaking: leds.Off,
	}
	for _, c := range contract.AllConversationStates {
		if got := (leds.Condition{State: contract.Connected, Conversation: c}).Talk(); got != want[c] {
			t.Errorf("%v: %v, want %v", c, got, want[c])
		}
	}
	if got := (leds.Condition{Stopped: true, Conversation: contract.ConversationListening}).Talk(); got != leds.Off {
		t.Errorf("stopped: %v, want off", got)
	}
	// The condition follows the events, and EventStopped forgets it.
	c := leds.Condition{}.Next(contract.Event{Kind: contract.EventConversation, Conversation: contract.ConversationThinking})
	if c.Conversation != contract.ConversationThinking {
		t.Errorf("after a conversation event: %v", c.Conversation)
	}
	if c = c.Next(contract.Event{Kind: contract.EventStopped}); c.Conversation != contract.ConversationNone {
		t.Errorf("after stopped: %v", c.Conversation)
	}
}

// With a talk LED the lamp test shows it alone, among every LED, blinking
// while the DP thinks (beside green), and in identify; without one the
// lamp test is the profile's.
func TestLampTestWithTalk(t *testing.T) {
	cfg := section(config.LEDs{Profile: string(leds.Traffic)})
	plain := leds.LampTestOf(cfg)
	if len(plain) != len(leds.Traffic.LampTest()) {
		t.Fatalf("without talk: %d steps, want the profile's %d", len(plain), len(leds.Traffic.LampTest()))
	}
	cfg.Lines = map[string]string{"red": "GPIO17", "amber": "GPIO27", "green": "GPIO22", config.LEDTalk: "GPIO5"}
	steps := leds.LampTestOf(cfg)
	if len(steps) != len(plain)+2 {
		t.Fatalf("with talk: %d steps, want %d (talk alone, the DP thinking)", len(steps), len(plain)+2)
	}
	has := func(label string, want map[string]leds.Pattern) {
		t.Helper()
		for _, s := range steps {
			if s.Label != label {
				continue
			}
			for r, p := range want {
				if s.Patterns[r] != p {
					t.Errorf("%s: %s %v, want %v", label, r, s.Patterns[r], p)
				}
			}
			return
		}
		t.Errorf("no step %q", label)
	}
	has("LED talk alone", map[string]leds.Pattern{config.LEDTalk: leds.On, "green": leds.Off})
	has("every LED", map[string]leds.Pattern{config.LEDTalk: leds.On, "red": leds.On})
	has("Connected, the Digital Person thinking", map[string]leds.Pattern{config.LEDTalk: leds.Blink(leds.TalkHz), "green": leds.On})
	has("identify", map[string]leds.Pattern{config.LEDTalk: leds.Blink(leds.IdentifyHz)})
	if id := leds.IdentifyStepOf(cfg, time.Second); id.Patterns[config.LEDTalk] != leds.Blink(leds.IdentifyHz) {
		t.Errorf("identify: talk %v", id.Patterns[config.LEDTalk])
	}
}

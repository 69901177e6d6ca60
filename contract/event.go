package contract

import (
	"context"
	"sync"
	"time"
)

// EventKind says what an Event reports.
type EventKind int

const (
	// EventState: the connection state changed (once per change, never repeated).
	EventState EventKind = iota + 1
	// EventQueue: the server reported a new queue position while searching.
	EventQueue
	// EventConnectFailed: a connect attempt failed with ErrorName.
	EventConnectFailed
	// EventDisconnected: a Connected session ended with Reason.
	EventDisconnected
	// EventRetry: the supervisor waits Delay before the next attempt.
	EventRetry
	// EventMediaFailed: a capture track failed (mediaStreamFailed).
	EventMediaFailed
	// EventStopped: the supervisor has stopped for good.
	EventStopped
	// EventConversation: the Digital Person's conversation state changed
	// (once per change; ConversationNone again when the call ends).
	EventConversation
	// EventPathRestart: an in-call repair of the media path ended (a
	// network change or a lost path, kioskd.dp.v1's ICE restart or
	// LiveKit's in-call resume): Recovered within Took, the call still
	// Connected; or not, and the call ends as controlDisconnected. It
	// changes no state: staff see nothing, fleets count it.
	EventPathRestart
)

var eventKindNames = map[EventKind]string{
	EventState: "state", EventQueue: "queue", EventConnectFailed: "connectFailed",
	EventDisconnected: "disconnected", EventRetry: "retry", EventMediaFailed: "mediaFailed",
	EventStopped: "stopped", EventConversation: "conversation", EventPathRestart: "pathRestart",
}

func (k EventKind) String() string {
	if s, ok := eventKindNames[k]; ok {
		return s
	}
	return "EventKind(?)"
}

// Event is what the session publishes to its subscribers (LEDs, logs,
// status, watchdog). Subscribers only read it.
type Event struct {
	Kind      EventKind
	Time      time.Time
	State     ConnectionState // the state after this event
	SessionID string          // the current session id, "" before one is known
	Resumed   bool            // with EventState Connected: the stored session was resumed

	ErrorName ErrorName        // EventConnectFailed, EventMediaFailed, and EventRetry after a failure
	Cause     error            // detail of ErrorName, for the log
	Reason    DisconnectReason // EventDisconnected
	ByUs      bool             // EventDisconnected with ReasonNormal: kioskd closed it itself

	// ErrorDetail goes with ErrorName: what narrows it down (detail.go),
	// NoDetail mostly.
	ErrorDetail ErrorDetail

	QueuePosition int               // EventQueue
	Conversation  ConversationState // the conversation state after this event
	Delay         time.Duration     // EventRetry
	Recovered     bool              // EventPathRestart: the media path came back
	Took          time.Duration     // EventPathRestart: from its start to its end
	Attempt       int               // connect attempts since the last Connected
}

// Snapshot is the session's current condition, for status queries.
type Snapshot struct {
	State         ConnectionState
	SessionID     string
	QueuePosition int
	LastError     ErrorName
	LastDetail    ErrorDetail // the detail of LastError, if any
	LastReason    DisconnectReason
	Attempt       int
	Since         time.Time // when State was entered
	NextRetry     time.Time // zero unless waiting to retry
	Connects      int       // how many times Connected was reached
	// Conversation is what the Digital Person is doing (ConversationNone
	// when it publishes nothing, or no call runs).
	Conversation ConversationState
}

// Bus fans events out to subscribers. A slow subscriber never blocks the
// publisher: each has its own unbounded queue, so no event is lost either.
type Bus struct {
	mu     sync.Mutex
	subs   map[*subscription]struct{}
	closed bool
}

type subscription struct {
	mu     sync.Mutex
	queue  []Event
	signal chan struct{}
	out    chan Event
	done   chan struct{}
}

// NewBus returns an empty bus.
func NewBus() *Bus { return &Bus{subs: map[*subscription]struct{}{}} }

// Subscribe returns a channel of every event published from now on, and a
// function that ends the subscription. The channel is closed after cancel
// or after the bus is closed and the queue is drained.
func (b *Bus) Subscribe() (<-chan Event, func()) {
	s := &subscription{signal: make(chan struct{}, 1), out: make(chan Event), done: make(chan struct{})}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		close(s.out)
		return s.out, func() {}
	}
	b.subs[s] = struct{}{}
	b.mu.Unlock()
	go s.pump()
	var once sync.Once
	return s.out, func() {
		once.Do(func() {
			b.mu.Lock()
			delete(b.subs, s)
			b.mu.Unlock()
			close(s.done)
		})
	}
}

// Publish queues e for every subscriber.
func (b *Bus) Publish(e Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for s := range b.subs {
		s.mu.Lock()
		s.queue = append(s.queue, e)
		s.mu.Unlock()
		select {
		case s.signal <- struct{}{}:
		default:
		}
	}
}

// Close ends every subscription once its queued events are delivered.
func (b *Bus) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	b.closed = true
	for s := range b.subs {
		s.mu.Lock()
		s.queue = append(s.queue, Event{}) // Kind 0 marks the end
		s.mu.Unlock()
		select {
		case s.signal <- struct{}{}:
		default:
		}
	}
}

func (s *subscription) pump() {
	defer close(s.out)
	for {
		s.mu.Lock()
		q := s.queue
		s.queue = nil
		s.mu.Unlock()
		for _, e := range q {
			if e.Kind == 0 {
				return
			}
			select {
			case s.out <- e:
			case <-s.done:
				return
			}
		}
		select {
		case <-s.signal:
		case <-s.done:
			return
		}
	}
}

// Follow hands every event of events to observe until the channel is
// closed or ctx is done (the loop of every Bus observer).
func Follow(ctx context.Context, events <-chan Event, observe func(Event)) {
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-events:
			if !ok {
				return
			}
			observe(e)
		}
	}
}

// Package dialecttest is a dialect.Dialect whose calls a test drives by
// hand: it reports what the test says (states, the session id, a queue
// position) and ends how the test says, with no server, socket or
// PeerConnection. It proves that the supervisor is dialect-agnostic.
//
//	d := dialecttest.New("test", "test://dp", clk)
//	sup, _ := session.New(cfg, d, opts)
//	go sup.Run(ctx)
//	c := d.Next(t, ctx)            // the supervisor started a call
//	c.Connect("dp-1", false)       // session id, then every state up to Connected
//	c.Disconnect(contract.ReasonControlDisconnected)
//	c = d.Next(t, ctx)             // c.Attempt.Resume == "dp-1"
//
// Like a real dialect, a call ends ByUs when its context is cancelled, and
// an Abort before Connected ends it with a ConnectError of that name (after
// Connected it is recorded and ignored).
package dialecttest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/kioskd/kioskd/contract"
	"github.com/kioskd/kioskd/dialect"
	"github.com/kioskd/kioskd/internal/clock"
)

// Dialect is a fake dialect.Dialect.
type Dialect struct {
	name, server string
	clk          clock.Clock

	mu      sync.Mutex
	calls   []*Call
	started chan struct{} // closed and replaced at each Start
}

var _ dialect.Dialect = (*Dialect)(nil)

// New returns a dialect called name that reaches server; clk stamps the
// results (nil: the wall clock).
func New(name, server string, clk clock.Clock) *Dialect {
	if clk == nil {
		clk = clock.Real
	}
	return &Dialect{name: name, server: server, clk: clk, started: make(chan struct{})}
}

func (d *Dialect) Name() string   { return d.name }
func (d *Dialect) Server() string { return d.server }

// Start records a new call; the test takes it with Next.
func (d *Dialect) Start(ctx context.Context, a dialect.Attempt) dialect.Call {
	c := &Call{Attempt: a, clk: d.clk, done: make(chan struct{}), aborts: make(chan Abort, 16)}
	go func() {
		select {
		case <-ctx.Done():
			c.endByUs()
		case <-c.done:
		}
	}()
	d.mu.Lock()
	d.calls = append(d.calls, c)
	close(d.started)
	d.started = make(chan struct{})
	d.mu.Unlock()
	return c
}

// Calls returns the calls started so far, oldest first.
func (d *Dialect) Calls() []*Call {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]*Call(nil), d.calls...)
}

// Next waits for the call after the last one Next returned (the first
// call, the first time), failing the test if ctx ends first.
func (d *Dialect) Next(t testing.TB, ctx context.Context) *Call {
	t.Helper()
	for {
		d.mu.Lock()
		for _, c := range d.calls {
			if !c.taken {
				c.taken = true
				d.mu.Unlock()
				return c
			}
		}
		started := d.started
		d.mu.Unlock()
		select {
		case <-started:
		case <-ctx.Done():
			t.Fatalf("no new call started (%d so far)", len(d.Calls()))
		}
	}
}

// Abort is an Abort the supervisor sent a call.
type Abort struct {
	Name  contract.ErrorName
	Cause error
	At    time.Time // on the dialect's clock
	// Ignored: the call was Connected already.
	Ignored bool
}

// Call is one fake call. Its methods stand in for what a real call
// learns from its server; call them from one goroutine (the test's).
type Call struct {
	// Attempt is what the supervisor gave the call.
	Attempt dialect.Attempt

	clk    clock.Clock
	done   chan struct{}
	aborts chan Abort
	taken  bool // returned by Next (under the Dialect's mu)

	mu     sync.Mutex
	state  contract.ConnectionState
	result dialect.Result
	ended  bool
}

var _ dialect.Call = (*Call)(nil)

func (c *Call) Done() <-chan struct{} { return c.done }

func (c *Call) Result() dialect.Result {
	<-c.done
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.result
}

// Abort records the request; before Connected it ends the call with a
// ConnectError of name, as a real dialect does once it has told its server.
func (c *Call) Abort(name contract.ErrorName, cause error) {
	c.mu.Lock()
	ignored := c.state == contract.Connected || c.ended
	c.mu.Unlock()
	select {
	case c.aborts <- Abort{Name: name, Cause: cause, At: c.clk.Now(), Ignored: ignored}:
	default:
	}
	if !ignored {
		c.End(dialect.Result{Err: contract.NewConnectError(name, cause)})
	}
}

// Aborts delivers every Abort the supervisor sent, in order.
func (c *Call) Aborts() <-chan Abort { return c.aborts }

// WaitAbort waits for the next Abort, failing the test if ctx ends first.
func (c *Call) WaitAbort(t testing.TB, ctx context.Context) Abort {
	t.Helper()
	select {
	case a := <-c.aborts:
		return a
	case <-ctx.Done():
		t.Fatal("the supervisor did not abort the call")
		return Abort{}
	}
}

// State reports st to the supervisor.
func (c *Call) State(st contract.ConnectionState) {
	c.mu.Lock()
	c.state = st
	if st == contract.Connected {
		c.result.Connected = c.clk.Now()
	}
	c.mu.Unlock()
	c.Attempt.Report.State(st)
}

// Session reports the session id the server named.
func (c *Call) Session(id string, resumed bool) {
	c.mu.Lock()
	c.result.SessionID, c.result.Resumed = id, resumed
	c.mu.Unlock()
	c.Attempt.Report.Session(id, resumed)
}

// Queue reports a queue position.
func (c *Call) Queue(pos int) { c.Attempt.Report.Queue(pos) }

// Conversation reports the Digital Person's conversation state.
func (c *Call) Conversation(st contract.ConversationState) { c.Attempt.Report.Conversation(st) }

// PathRestart reports the end of an in-call repair of the media path.
func (c *Call) PathRestart(recovered bool, took time.Duration) {
	c.Attempt.Report.PathRestart(recovered, took)
}

// Connect reports the session id and then every step up to Connected.
func (c *Call) Connect(id string, resumed bool) {
	c.Session(id, resumed)
	for _, st := range []contract.ConnectionState{contract.SearchingForDigitalPerson, contract.DownloadingAssets, contract.ConnectingToDigitalPerson, contract.Connected} {
		c.State(st)
	}
}

// Fail ends the call before Connected with name.
func (c *Call) Fail(name contract.ErrorName, cause error) {
	c.End(dialect.Result{Err: contract.NewConnectError(name, cause)})
}

// Disconnect ends a Connected call: the server closed it with reason.
func (c *Call) Disconnect(reason contract.DisconnectReason) {
	c.End(dialect.Result{Reason: reason})
}

// End ends the call with r; the session id, Resumed, Connected and Ended
// the call knows are filled in where r leaves them zero. Only the first
// End counts.
func (c *Call) End(r dialect.Result) {
	c.mu.Lock()
	if c.ended {
		c.mu.Unlock()
		return
	}
	c.ended = true
	if r.SessionID == "" {
		r.SessionID, r.Resumed = c.result.SessionID, c.result.Resumed
	}
	if r.Connected.IsZero() {
		r.Connected = c.result.Connected
	}
	if r.Ended.IsZero() {
		r.Ended = c.clk.Now()
	}
	c.result = r
	c.mu.Unlock()
	close(c.done)
}

// endByUs is a shutdown: the context of Start was cancelled.
func (c *Call) endByUs() {
	c.End(dialect.Result{ByUs: true, Reason: contract.ReasonNormal})
}

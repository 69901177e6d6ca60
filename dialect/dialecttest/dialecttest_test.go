package dialecttest_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/kioskd/kioskd/contract"
	"github.com/kioskd/kioskd/dialect"
	"github.com/kioskd/kioskd/dialect/dialecttest"
	"github.com/kioskd/kioskd/internal/clock/clocktest"
)

// reports records what a call reports, in order.
type reports []string

func (r *reports) State(st contract.ConnectionState) { *r = append(*r, "state:"+st.String()) }
func (r *reports) Session(id string, resumed bool) {
	*r = append(*r, fmt.Sprintf("session:%s:%v", id, resumed))
}
func (r *reports) Queue(pos int) { *r = append(*r, fmt.Sprintf("queue:%d", pos)) }
func (r *reports) Conversation(c contract.ConversationState) {
	*r = append(*r, "conversation:"+c.String())
}
func (r *reports) PathRestart(recovered bool, _ time.Duration) {
	*r = append(*r, fmt.Sprintf("path:%v", recovered))
}

func start(t *testing.T, d *dialecttest.Dialect, ctx context.Context, resume string) (*dialecttest.Call, *reports) {
	t.Helper()
	r := &reports{}
	d.Start(ctx, dialect.Attempt{Resume: resume, Report: r})
	return d.Next(t, ctx), r
}

func TestCallReportsAndEnds(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	clk := clocktest.New(time.Unix(1000, 0))
	d := dialecttest.New("test", "test://dp", clk)
	if d.Name() != "test" || d.Server() != "test://dp" {
		t.Fatalf("name %q server %q", d.Name(), d.Server())
	}
	c, r := start(t, d, ctx, "dp-1")
	if c.Attempt.Resume != "dp-1" {
		t.Fatalf("attempt %+v", c.Attempt)
	}
	c.Queue(2)
	c.Connect("dp-1", true)
	want := "[queue:2 session:dp-1:true state:SearchingForDigitalPerson state:DownloadingAssets state:ConnectingToDigitalPerson state:Connected]"
	if got := fmt.Sprint(*r); got != want {
		t.Fatalf("reports %s, want %s", got, want)
	}
	clk.Advance(time.Minute)
	c.Abort(contract.SessionTimeout, errors.New("late"))
	if a := c.WaitAbort(t, ctx); !a.Ignored || a.Name != contract.SessionTimeout {
		t.Fatalf("abort after Connected: %+v, want recorded and ignored", a)
	}
	select {
	case <-c.Done():
		t.Fatal("an abort after Connected ended the call")
	default:
	}
	c.Disconnect(contract.ReasonControlDisconnected)
	res := c.Result()
	if res.Reason != contract.ReasonControlDisconnected || res.SessionID != "dp-1" || !res.Resumed ||
		!res.Connected.Equal(time.Unix(1000, 0)) || !res.Ended.Equal(time.Unix(1060, 0)) || res.Err != nil || res.ByUs {
		t.Fatalf("result %+v", res)
	}
}

func TestAbortBeforeConnectedEndsTheCall(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d := dialecttest.New("test", "test://dp", nil)
	c, _ := start(t, d, ctx, "")
	c.State(contract.SearchingForDigitalPerson)
	cause := errors.New("stuck")
	c.Abort(contract.SessionTimeout, cause)
	res := c.Result()
	if res.Err == nil || res.Err.Name != contract.SessionTimeout || !errors.Is(res.Err, cause) {
		t.Fatalf("result %+v, want sessionTimeout", res)
	}
	if a := c.WaitAbort(t, ctx); a.Ignored {
		t.Fatal("an abort before Connected was ignored")
	}
}

func TestCancelIsAShutdown(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d := dialecttest.New("test", "test://dp", nil)
	callCtx, stop := context.WithCancel(ctx)
	c, _ := start(t, d, callCtx, "")
	c2, _ := start(t, d, ctx, "")
	if c == c2 || len(d.Calls()) != 2 {
		t.Fatal("Next returned a call twice")
	}
	stop()
	if res := c.Result(); !res.ByUs || res.Reason != contract.ReasonNormal {
		t.Fatalf("result %+v, want ByUs normal", res)
	}
	c2.Fail(contract.NoScene, errors.New("busy"))
	if res := c2.Result(); res.Err == nil || res.Err.Name != contract.NoScene {
		t.Fatalf("result %+v, want noScene", res)
	}
}

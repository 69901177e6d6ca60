package contract

import (
	"errors"
	"fmt"
	"testing"
)

// TestErrorDetails: every detail has a text that parses back, refines one
// of the eight names, and rides on a ConnectError through wrapping.
func TestErrorDetails(t *testing.T) {
	if NoDetail.String() != "" || DetailUnauthorized.String() != "unauthorized" {
		t.Fatalf("texts %q %q", NoDetail, DetailUnauthorized)
	}
	if DetailClock.String() != "clock" || DetailClock.Name() != ServerConnectionFailed {
		t.Fatalf("clock: %q refines %v, want \"clock\" on serverConnectionFailed", DetailClock, DetailClock.Name())
	}
	if DetailUnauthorized.Name() != ServerConnectionFailed {
		t.Fatalf("unauthorized refines %v, want serverConnectionFailed", DetailUnauthorized.Name())
	}
	for _, d := range AllErrorDetails {
		if d.String() == "" || d.Name() == NoError {
			t.Errorf("detail %d has no text or no name", int(d))
		}
		if p, ok := ParseErrorDetail(d.String()); !ok || p != d {
			t.Errorf("ParseErrorDetail(%q) = %v, %v", d, p, ok)
		}
	}
	if _, ok := ParseErrorDetail("nonsense"); ok {
		t.Error("an unknown detail parsed")
	}
	if s := ErrorDetail(99).String(); s != "ErrorDetail(99)" {
		t.Errorf("out of range: %q", s)
	}

	err := fmt.Errorf("dial: %w", NewConnectErrorDetail(ServerConnectionFailed, DetailUnauthorized, errors.New("HTTP 401")))
	if DetailOf(err) != DetailUnauthorized || NameOf(err) != ServerConnectionFailed {
		t.Fatalf("DetailOf/NameOf through wrapping: %v %v", DetailOf(err), NameOf(err))
	}
	if !errors.Is(err, ErrUnauthorized) || !errors.Is(err, ErrServerConnectionFailed) {
		t.Fatal("errors.Is does not match the name and its detail")
	}
	plain := NewConnectError(ServerConnectionFailed, errors.New("connection refused"))
	if errors.Is(plain, ErrUnauthorized) || DetailOf(plain) != NoDetail {
		t.Fatal("a plain serverConnectionFailed matches ErrUnauthorized")
	}
	if got := DescribeError(ServerConnectionFailed, DetailUnauthorized); got != "serverConnectionFailed (unauthorized)" {
		t.Errorf("DescribeError = %q", got)
	}
	if got := DescribeError(NoScene, NoDetail); got != "noScene" {
		t.Errorf("DescribeError = %q", got)
	}
}

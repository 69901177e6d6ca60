package dpv1

import "testing"

func TestKindLog(t *testing.T) {
	k := kindLog{max: 2}
	var logged []string
	for _, kind := range []string{"a", "a", "b", "c", "a", "b", "c"} {
		if k.first(kind) {
			logged = append(logged, kind)
		}
	}
	if len(logged) != 2 || logged[0] != "a" || logged[1] != "b" {
		t.Fatalf("logged %v, want the first a and b only (max 2 kinds)", logged)
	}
	if events, kinds, some := k.unlogged(); events != 7 || kinds != 2 || !some {
		t.Fatalf("unlogged = %d, %d, %v; want 7 events, 2 kinds, some unlogged", events, kinds, some)
	}
	var unlimited kindLog
	unlimited.first("x")
	if _, _, some := unlimited.unlogged(); some {
		t.Fatal("one event, logged: none unlogged")
	}
}

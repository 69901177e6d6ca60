package rtc

import (
	"sync"
	"testing"
)

// TestNetRefresh: Refresh renews the list while agents read it (-race).
func TestNetRefresh(t *testing.T) {
	n, err := NewNet()
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				ifs, err := n.Interfaces()
				if err != nil || len(ifs) == 0 {
					t.Errorf("interfaces %v, %v: want at least loopback", ifs, err)
					return
				}
			}
		}()
	}
	for range 20 {
		if err := n.Refresh(); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	if _, err := n.InterfaceByName("lo"); err != nil {
		t.Fatal(err)
	}
}

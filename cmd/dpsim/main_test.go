package main

import (
	"os"
	"testing"
)

func TestRunRefusesBadArguments(t *testing.T) {
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	for _, c := range []struct {
		args []string
		want int
	}{
		{[]string{"--help"}, 0},
		{[]string{"--admin", "0.0.0.0:0", "--listen", "127.0.0.1:0"}, 2},
		{[]string{"--admin", ":8766", "--listen", "127.0.0.1:0"}, 2},
		{[]string{"--no-scene", "lots"}, 2},
		{[]string{"--log-format", "xml"}, 2},
		{[]string{"--video-size", "15x15", "--admin", ""}, 2},
		{[]string{"--tls-cert", "x.pem", "--admin", ""}, 2},
		{[]string{"--token-file", "/nonexistent/token", "--admin", ""}, 1},
		{[]string{"extra"}, 2},
	} {
		if got := run(c.args, null); got != c.want {
			t.Errorf("dpsim %v: exit %d, want %d", c.args, got, c.want)
		}
	}
}

package main

import (
	"strings"
	"testing"
)

func TestShape(t *testing.T) {
	out := strings.Join([]string{
		"   0.03s  [#···] 25% SearchingForDigitalPerson",
		"          LEDs: red ○ amber ◐1Hz green ○",
		"   1.25s  [##··] 50% DownloadingAssets  session dp-9430d…",
		"          → kioskd resumed the SAME session dp-9430dca893267288cc467052 in 14ms",
	}, "\n")
	ok := [][]string{
		{"0.01s [#···] 25% SearchingForDigitalPerson", "LEDs: red ○ amber ◐1Hz green ○"},
		// LED lines are in order only among themselves.
		{"LEDs: red ○ amber ◐1Hz green ○", "0.01s [#···] 25% SearchingForDigitalPerson", "12.50s  [##··] 50% DownloadingAssets  session dp-6a60f…"},
		{"→ kioskd resumed the SAME session dp-6a60f99fa0e40f0fd9c623ad in 9ms"},
		{"→ kioskd resumed … in 9ms"},
	}
	for _, want := range ok {
		if err := shapeErr(want, out); err != nil {
			t.Errorf("%q: %v", want, err)
		}
	}
	bad := [][]string{
		{"50% DownloadingAssets  session dp-6a60f…"},                                                           // not the whole line
		{"1.25s [##··] 50% DownloadingAssets session dp-9430d…", "0.03s [#···] 25% SearchingForDigitalPerson"}, // order
		{"LEDs: red ○ amber ○ green ●"},
		{"→ kioskd resumed a NEW session dp-9430dca893267288cc467052 in 14ms"},
	}
	for _, want := range bad {
		if err := shapeErr(want, out); err == nil {
			t.Errorf("%q matched", want)
		}
	}
}

func TestParse(t *testing.T) {
	text := "# x\n<!-- readme-check exit=3 setup: printf 'a: 1\\n' > f.yaml -->\n```\n$ kioskd check-config --config f.yaml\nf.yaml:1: bad\n\n$ true\n```\n```sh\nnot checked\n```\n<!-- readme-check until timeout=5s -->\n```\n$ dpsim\nready\n```\n"
	blocks, err := parse(text)
	if err != nil {
		t.Fatal(err)
	}
	if len(blocks) != 2 || blocks[0].exit != 3 || blocks[0].setup != `printf 'a: 1\n' > f.yaml` || len(blocks[0].cmds) != 2 ||
		blocks[0].cmds[0].line != 4 || strings.Join(blocks[0].cmds[0].want, "|") != "f.yaml:1: bad" || !blocks[1].until || blocks[1].timeout.Seconds() != 5 {
		t.Fatalf("%+v", blocks)
	}
	for _, bad := range []string{"<!-- readme-check -->\nno fence\n", "<!-- readme-check -->\n```\noutput first\n```\n", "<!-- readme-check wat -->\n```\n$ x\n```\n"} {
		if _, err := parse(bad); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

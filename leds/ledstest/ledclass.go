package ledstest

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// MakeLEDClass creates a fake LED-class LED under root (a temporary folder
// standing in for /sys/class/leds): brightness 0, max_brightness max, and a
// trigger file listing triggers with "none" active, unless one is given in
// brackets ("[heartbeat]"). "none" is always listed, as the kernel does. When "timer" is listed it also creates delay_on and
// delay_off, which the kernel only creates once the timer trigger is active;
// a plain folder cannot make files appear on a write.
func MakeLEDClass(root, name string, max int, triggers ...string) error {
	dir := filepath.Join(root, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	list := []string{"[none]"}
	for _, t := range triggers {
		if strings.HasPrefix(t, "[") {
			list[0] = "none"
		}
		if t != "none" {
			list = append(list, t)
		}
	}
	files := map[string]string{
		"brightness":     "0\n",
		"max_brightness": strconv.Itoa(max) + "\n",
		"trigger":        strings.Join(list, " ") + "\n",
	}
	for _, t := range triggers {
		if strings.Trim(t, "[]") == "timer" {
			files["delay_on"] = "500\n"
			files["delay_off"] = "500\n"
		}
	}
	for f, v := range files {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(v), 0o644); err != nil {
			return fmt.Errorf("ledstest: %w", err)
		}
	}
	return nil
}

// ReadAttr returns the trimmed content of one attribute of a fake LED.
func ReadAttr(root, name, attr string) (string, error) {
	b, err := os.ReadFile(filepath.Join(root, name, attr))
	return strings.TrimSpace(string(b)), err
}

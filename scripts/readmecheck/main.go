// Command readmecheck runs the commands README.md shows and checks that
// their output still has the shape the README shows (scripts/readme-check.sh
// runs it in `make test`), so the README cannot drift from the binaries.
//
// A fenced block is checked when the line before its opening fence is a
// marker:
//
//	<!-- readme-check [exit=N] [until] [timeout=DURATION] [setup: SHELL] -->
//
// In the block, a line "$ CMD" is a command; the lines after it, up to the
// next "$ " line, are its output as the README shows it. Each command runs
// under bash in a fresh temporary directory (setup runs there first), with
// the built kioskd and dpsim first on PATH, stdout and stderr together.
// It must exit with N (default 0) within the timeout (default 60 s); with
// until it is a server: once every shown line has appeared it gets SIGTERM
// and must exit with N.
//
// Shape: every shown line must appear in the output, in order, after
// collapsing blanks; digits match any number, "dp-" and hex any session id,
// and "…" anything. LED lines ("LEDs: …") come from their own goroutine, so
// they are in order among themselves only. Output lines the README leaves
// out are allowed.
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

func main() {
	readme := flag.String("readme", "README.md", "the README to check")
	bin := flag.String("bin", "bin", "the directory with the built kioskd and dpsim")
	flag.Parse()
	binDir, err := filepath.Abs(*bin)
	if err != nil {
		fatal(err)
	}
	blocks, err := parseFile(*readme)
	if err != nil {
		fatal(err)
	}
	if len(blocks) == 0 {
		fatal(fmt.Errorf("%s: no block marked <!-- readme-check … -->", *readme))
	}
	failed := 0
	for _, b := range blocks {
		for _, c := range b.cmds {
			start := time.Now()
			if err := run(b, c, binDir); err != nil {
				failed++
				fmt.Printf("FAIL %s:%d: $ %s\n%s\n", *readme, c.line, c.cmd, indent(err.Error()))
				continue
			}
			fmt.Printf("ok   %s:%d: $ %s (%s)\n", *readme, c.line, c.cmd, time.Since(start).Round(100*time.Millisecond))
		}
	}
	if failed > 0 {
		fmt.Printf("%d README command(s) no longer do what the README shows\n", failed)
		os.Exit(1)
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "readmecheck:", err)
	os.Exit(2)
}

func indent(s string) string {
	return "    " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n    ")
}

// block is a marked fenced block.
type block struct {
	exit    int
	until   bool
	timeout time.Duration
	setup   string
	cmds    []command
}

type command struct {
	line int // in the README
	cmd  string
	want []string
}

var markerRE = regexp.MustCompile(`^<!-- readme-check(.*)-->\s*$`)

func parseFile(path string) ([]block, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parse(string(b))
}

func parse(text string) ([]block, error) {
	lines := strings.Split(text, "\n")
	var blocks []block
	for i := 0; i < len(lines); i++ {
		m := markerRE.FindStringSubmatch(lines[i])
		if m == nil {
			continue
		}
		b, err := parseMarker(m[1])
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", i+1, err)
		}
		if i+1 >= len(lines) || !strings.HasPrefix(lines[i+1], "```") {
			return nil, fmt.Errorf("line %d: a readme-check marker must be followed by a fenced block", i+1)
		}
		j := i + 2
		for ; j < len(lines) && !strings.HasPrefix(lines[j], "```"); j++ {
			l := lines[j]
			if strings.HasPrefix(l, "$ ") {
				b.cmds = append(b.cmds, command{line: j + 1, cmd: strings.TrimPrefix(l, "$ ")})
				continue
			}
			if len(b.cmds) == 0 {
				return nil, fmt.Errorf("line %d: a checked block starts with a \"$ \" command line", j+1)
			}
			if strings.TrimSpace(l) != "" {
				c := &b.cmds[len(b.cmds)-1]
				c.want = append(c.want, l)
			}
		}
		if j >= len(lines) {
			return nil, fmt.Errorf("line %d: the block never ends", i+2)
		}
		if len(b.cmds) == 0 {
			return nil, fmt.Errorf("line %d: a checked block without a command", i+2)
		}
		blocks = append(blocks, b)
		i = j
	}
	return blocks, nil
}

func parseMarker(s string) (block, error) {
	b := block{timeout: time.Minute}
	if i := strings.Index(s, "setup:"); i >= 0 {
		b.setup = strings.TrimSpace(s[i+len("setup:"):])
		s = s[:i]
	}
	for _, f := range strings.Fields(s) {
		k, v, _ := strings.Cut(f, "=")
		var err error
		switch k {
		case "exit":
			b.exit, err = strconv.Atoi(v)
		case "until":
			b.until = true
		case "timeout":
			b.timeout, err = time.ParseDuration(v)
		default:
			err = errors.New("unknown option")
		}
		if err != nil {
			return b, fmt.Errorf("readme-check marker: %q: %v", f, err)
		}
	}
	return b, nil
}

// output is a command's stdout and stderr together, read as it comes.
type output struct {
	mu      sync.Mutex
	b       bytes.Buffer
	changed chan struct{}
}

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.b.Write(p)
	select {
	case o.changed <- struct{}{}:
	default:
	}
	return len(p), nil
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.String()
}

func run(b block, c command, binDir string) error {
	dir, err := os.MkdirTemp("", "readmecheck-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	script := c.cmd
	if b.until {
		script = "exec " + script // the server itself gets the SIGTERM and gives the exit code
	}
	if b.setup != "" {
		script = b.setup + "\n" + c.cmd
	}
	ctx, cancel := context.WithTimeout(context.Background(), b.timeout)
	defer cancel()
	cmd := exec.Command("bash", "-c", script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PATH="+binDir+":"+os.Getenv("PATH"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out := &output{changed: make(chan struct{}, 1)}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	signal := func(s syscall.Signal) { _ = syscall.Kill(-cmd.Process.Pid, s) }
	var waitErr error
	if b.until {
	poll:
		for {
			if shapeErr(c.want, out.String()) == nil {
				signal(syscall.SIGTERM)
				break
			}
			select {
			case <-out.changed:
			case waitErr = <-exited:
				return fmt.Errorf("exited before showing its output (%v):\n%s", waitErr, shapeErr(c.want, out.String()))
			case <-ctx.Done():
				signal(syscall.SIGKILL)
				<-exited
				break poll
			}
		}
	}
	select {
	case waitErr = <-exited:
	case <-ctx.Done():
		signal(syscall.SIGKILL)
		<-exited
		return fmt.Errorf("still running after %v; output:\n%s", b.timeout, out.String())
	}
	code := 0
	var ee *exec.ExitError
	if errors.As(waitErr, &ee) {
		code = ee.ExitCode()
	} else if waitErr != nil {
		return waitErr
	}
	if ctx.Err() != nil {
		return fmt.Errorf("still running after %v; output:\n%s", b.timeout, out.String())
	}
	if code != b.exit {
		return fmt.Errorf("exit %d, the README implies %d; output:\n%s", code, b.exit, out.String())
	}
	return shapeErr(c.want, out.String())
}

// shapeErr says which shown line the output lacks (nil: none).
func shapeErr(want []string, got string) error {
	var gotLines []string
	sc := bufio.NewScanner(strings.NewReader(got))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		gotLines = append(gotLines, squash(sc.Text()))
	}
	next := map[bool]int{} // per stream (LED lines or not): where the next search starts
	for _, w := range want {
		led := isLED(w)
		re, err := pattern(w)
		if err != nil {
			return err
		}
		found := false
		for i := next[led]; i < len(gotLines); i++ {
			if isLED(gotLines[i]) != led {
				continue
			}
			if re.MatchString(gotLines[i]) {
				next[led] = i + 1
				found = true
				break
			}
		}
		if !found {
			return fmt.Errorf("the output lacks the README's line (or has it out of order):\n  %s\noutput:\n%s", w, got)
		}
	}
	return nil
}

func isLED(l string) bool { return strings.HasPrefix(strings.TrimSpace(l), "LEDs:") }

func squash(s string) string { return strings.Join(strings.Fields(s), " ") }

var (
	sessionRE = regexp.MustCompile(`dp-[0-9a-f]+`)
	digitsRE  = regexp.MustCompile(`[0-9]+`)
)

// pattern is the regexp a shown line stands for.
func pattern(shown string) (*regexp.Regexp, error) {
	s := squash(shown)
	var b strings.Builder
	for i, part := range strings.Split(s, "…") {
		if i > 0 {
			b.WriteString(".*")
		}
		part = sessionRE.ReplaceAllString(part, "\x00")
		part = regexp.QuoteMeta(part)
		part = digitsRE.ReplaceAllString(part, `[0-9]+`)
		b.WriteString(strings.ReplaceAll(part, "\x00", `dp-[0-9a-f]+`))
	}
	return regexp.Compile("^" + b.String() + "$")
}

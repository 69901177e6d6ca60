package status

import (
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/kioskd/kioskd/contract"
)

// fullRegistry is the registry kioskd serves, with every family present:
// the Go and process collectors, the session's metrics after a few
// events, media counts and health readings.
func fullRegistry(t *testing.T) ([]string, func() error) {
	t.Helper()
	reg := NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	m.Health.WatchDevices(func() []Health { return []Health{{"camera", true}, {"microphone", false}, {"speaker", true}} })
	m.Health.WatchLEDs("gpio", func() bool { return true })
	for _, e := range []contract.Event{
		{Kind: contract.EventState, Time: since, State: contract.SearchingForDigitalPerson},
		{Kind: contract.EventQueue, Time: since, State: contract.SearchingForDigitalPerson, QueuePosition: 2},
		{Kind: contract.EventState, Time: since.Add(time.Second), State: contract.Connected},
	} {
		m.Observe(e)
	}
	m.Media.AddSent(MediaCounts{VideoFrames: 1, AudioPackets: 1, VideoBytes: 1, AudioBytes: 1})
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, mf := range mfs {
		names = append(names, mf.GetName())
	}
	lint := func() error {
		problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
		if err != nil {
			return err
		}
		if len(problems) > 0 {
			var b strings.Builder
			for _, p := range problems {
				b.WriteString(p.Metric + ": " + p.Text + "\n")
			}
			t.Errorf("promlint:\n%s", b.String())
		}
		return nil
	}
	return names, lint
}

// TestMetricsLintClean: the linter `promtool check metrics` runs
// (client_golang's promlint) finds nothing in what kioskd serves. The real
// promtool checks a real scrape in cli (TestPromtoolChecksARealScrape).
func TestMetricsLintClean(t *testing.T) {
	_, lint := fullRegistry(t)
	if err := lint(); err != nil {
		t.Fatal(err)
	}
}

// TestMetricsAreDocumented: every kioskd_* family kioskd serves is listed
// in the README's "Metrics" table and in kioskd(8), and both list no
// family kioskd does not serve.
func TestMetricsAreDocumented(t *testing.T) {
	names, _ := fullRegistry(t)
	var served []string
	for _, n := range names {
		if strings.HasPrefix(n, "kioskd_") {
			served = append(served, n)
		}
	}
	sort.Strings(served)
	name := regexp.MustCompile(`kioskd_[a-z_]+[a-z]`)
	for _, doc := range []struct{ path, start, end string }{
		{"../README.md", "\n## Metrics", "\n## "},
		{"../packaging/kioskd.8", "\n.SH METRICS", "\n.SH "},
	} {
		b, err := os.ReadFile(doc.path)
		if err != nil {
			t.Fatal(err)
		}
		text := string(b)
		i := strings.Index(text, doc.start)
		if i < 0 {
			t.Errorf("%s has no section %q", doc.path, strings.TrimSpace(doc.start))
			continue
		}
		text = text[i+len(doc.start):]
		if j := strings.Index(text, doc.end); j >= 0 {
			text = text[:j]
		}
		text = strings.ReplaceAll(text, `\-`, "-") // roff
		text = strings.ReplaceAll(text, `\_`, "_")
		listed := map[string]bool{}
		for _, n := range name.FindAllString(text, -1) {
			listed[n] = true
		}
		for _, n := range served {
			if !listed[n] {
				t.Errorf("%s does not document %s", doc.path, n)
			}
		}
		for n := range listed {
			if !slices.Contains(served, n) && !strings.HasSuffix(n, "_bucket") && !strings.HasSuffix(n, "_count") && !strings.HasSuffix(n, "_sum") {
				t.Errorf("%s documents %s, which kioskd does not serve", doc.path, n)
			}
		}
	}
}

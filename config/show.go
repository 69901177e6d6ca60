package config

import (
	"fmt"
	"io"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Show writes the effective configuration as YAML (a file kioskd would
// read back to the same Config), each key followed by where its value
// comes from: the file and line that set it last, or "default". It is
// what `kioskd check-config --show` prints, so an operator with a main
// file and drop-ins sees which one won. Nothing secret is written: the
// token is not part of Config, and the server URL is shown without its
// query (which may carry one). tokenSource, if not "", is written as a
// closing comment saying where the token would be read from.
func (c *Config) Show(w io.Writer, tokenSource string) error {
	var lines []shown
	c.showValue("", reflect.ValueOf(c).Elem(), 0, &lines)
	width := 0
	for _, l := range lines {
		if l.origin != "" {
			width = max(width, len(l.text))
		}
	}
	var b strings.Builder
	if c.src != nil && len(c.src.files) > 0 {
		fmt.Fprintf(&b, "# effective configuration: %s", strings.Join(c.src.files, " + "))
		if len(c.src.files) == 1 {
			fmt.Fprintf(&b, " (no drop-in in %s)", DropInDir(c.src.main()))
		}
		b.WriteString("\n")
	}
	for _, l := range lines {
		if l.origin == "" {
			b.WriteString(l.text + "\n")
			continue
		}
		fmt.Fprintf(&b, "%-*s  # %s\n", width, l.text, l.origin)
	}
	if tokenSource != "" {
		fmt.Fprintf(&b, "# token: %s (never shown)\n", tokenSource)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

type shown struct {
	text   string
	origin string // "" for a section line
}

func (c *Config) showValue(path string, v reflect.Value, depth int, out *[]shown) {
	indent := strings.Repeat("  ", depth)
	t := v.Type()
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		key := joinKey(path, name)
		f := v.Field(i)
		switch {
		case f.Kind() == reflect.Struct && f.Type() != durationType:
			*out = append(*out, shown{text: indent + name + ":"})
			c.showValue(key, f, depth+1, out)
		case f.Kind() == reflect.Map:
			m := f.Interface().(map[string]string)
			if len(m) == 0 {
				*out = append(*out, shown{text: indent + name + ": {}", origin: c.originOf(key)})
				continue
			}
			*out = append(*out, shown{text: indent + name + ":", origin: c.originOf(key)})
			keys := slices.Sorted(func(yield func(string) bool) {
				for k := range m {
					if !yield(k) {
						return
					}
				}
			})
			// The profile's LEDs in display order first, then any other.
			order := c.LEDs.Roles()
			slices.SortStableFunc(keys, func(a, b string) int { return rank(order, a) - rank(order, b) })
			for _, k := range keys {
				*out = append(*out, shown{text: indent + "  " + scalar(k) + ": " + scalar(m[k]), origin: c.originOf(joinKey(key, keyName(k)))})
			}
		case f.Kind() == reflect.Slice && f.Type().Elem().Kind() == reflect.Struct:
			c.showList(key, name, indent, f, out)
		case f.Kind() == reflect.Slice:
			*out = append(*out, shown{text: indent + name + ": " + flowList(f), origin: c.originOf(key)})
		default:
			*out = append(*out, shown{text: indent + name + ": " + c.showScalar(key, f), origin: c.originOf(key)})
		}
	}
}

// showList writes a list of sections (server.ice_servers) in block style,
// each entry's keys with their origin. A TURN credential is a secret: it
// is written as REDACTED, never shown.
func (c *Config) showList(key, name, indent string, f reflect.Value, out *[]shown) {
	if f.Len() == 0 {
		*out = append(*out, shown{text: indent + name + ": []", origin: c.originOf(key)})
		return
	}
	*out = append(*out, shown{text: indent + name + ":", origin: c.originOf(key)})
	for i := range f.Len() {
		el := f.Index(i)
		elKey := fmt.Sprintf("%s[%d]", key, i)
		first := true
		for j := range el.Type().NumField() {
			field, _, _ := strings.Cut(el.Type().Field(j).Tag.Get("yaml"), ",")
			if field == "" || field == "-" {
				continue
			}
			fk := joinKey(elKey, field)
			fv := el.Field(j)
			prefix := indent + "    "
			if first {
				prefix, first = indent+"  - ", false
			}
			var text string
			switch {
			case fv.Kind() == reflect.Slice:
				text = flowList(fv)
			case field == "credential" && fv.String() != "":
				text = "REDACTED"
			default:
				text = c.showScalar(fk, fv)
			}
			*out = append(*out, shown{text: prefix + field + ": " + text, origin: c.originOf(fk)})
		}
	}
}

// flowList is a list of strings in YAML's flow style, each quoted (a
// URL's '?' or ',' means something there): ["a", "b c"].
func flowList(v reflect.Value) string {
	items := make([]string, v.Len())
	for i := range v.Len() {
		items[i] = strconv.Quote(v.Index(i).String())
	}
	return "[" + strings.Join(items, ", ") + "]"
}

func rank(order []string, s string) int {
	if i := slices.Index(order, s); i >= 0 {
		return i
	}
	return len(order)
}

// originOf is "file:line" of the file that set key last, or "default".
func (c *Config) originOf(key string) string {
	if o, ok := c.src.where(key); ok {
		return fmt.Sprintf("%s:%d", c.src.files[o.file], o.line)
	}
	return "default"
}

func (c *Config) showScalar(key string, f reflect.Value) string {
	switch {
	case f.Type() == durationType:
		return time.Duration(f.Int()).String()
	case f.Kind() == reflect.Bool:
		return fmt.Sprint(f.Bool())
	case f.Kind() == reflect.Int:
		return fmt.Sprint(f.Int())
	case key == "server.url":
		return scalar(showURL(f.String()))
	}
	return scalar(f.String())
}

// showURL hides what may be secret in a URL: its query (validation already
// refuses user info and fragments).
func showURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(not shown: not a valid URL)"
	}
	if u.RawQuery != "" || u.ForceQuery {
		u.RawQuery, u.ForceQuery = "REDACTED", false
	}
	u.User = nil
	return u.String()
}

// scalar renders a string as YAML would write it: plain when that reads
// back the same, quoted otherwise ("" and values like true or 0640).
func scalar(s string) string {
	out, err := yaml.Marshal(s)
	if err != nil {
		return fmt.Sprintf("%q", s)
	}
	return strings.TrimSuffix(string(out), "\n")
}

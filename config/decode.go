package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"gopkg.in/yaml.v3"
)

// The file is decoded by walking yaml.v3's node tree against Config's
// struct tags instead of yaml.Unmarshal: Unmarshal stops at the first
// problem and does not know the dotted key, while integrators need every
// problem with its key and line. Walking the schema also bounds the work:
// anchors and aliases are followed only as deep as Config goes, so an
// alias bomb or a self-referencing anchor costs nothing.

// source is where each key was found: the file (the main file or a
// drop-in) and the line of its last setting, by dotted path.
type source struct {
	files []string // in merge order: the main file first, then the drop-ins
	cur   int      // index in files of the file being decoded
	at    map[string]origin
}

// origin is where a key was set: files[file], line.
type origin struct {
	file int
	line int
}

func newSource(files ...string) *source {
	return &source{files: files, at: map[string]origin{}}
}

// set records key at line of the file being decoded: a later file's
// setting replaces an earlier one's.
func (s *source) set(key string, line int) {
	s.at[key] = origin{file: s.cur, line: line}
}

// forget drops what was recorded under prefix (the entries of a map or
// a list a later file replaces as a whole).
func (s *source) forget(prefix string) {
	for k := range s.at {
		if strings.HasPrefix(k, prefix+".") || strings.HasPrefix(k, prefix+"[") {
			delete(s.at, k)
		}
	}
}

// where returns the origin of the first of keys that was in a file; ok is
// false when none was.
func (s *source) where(keys ...string) (origin, bool) {
	if s == nil {
		return origin{}, false
	}
	for _, k := range keys {
		if o, ok := s.at[k]; ok {
			return o, true
		}
	}
	return origin{}, false
}

// main is the main config file's name ("" for a Config built in code).
func (s *source) main() string {
	if s == nil || len(s.files) == 0 {
		return ""
	}
	return s.files[0]
}

func (s *source) has(key string) bool {
	if s == nil {
		return false
	}
	_, ok := s.at[key]
	return ok
}

type decoder struct {
	src  *source
	errs *errorList
}

// decodeFile puts the YAML in data on top of c, recording key lines in
// c.src and problems in errs.
func decodeFile(data []byte, c *Config, errs *errorList) {
	docs, err := parseDocs(data)
	if err != nil {
		addSyntaxError(errs, data, err)
	}
	if len(docs) == 0 {
		return // empty, only comments, or unparseable
	}
	if len(docs) > 1 {
		// A plain decoder would silently ignore a second document; an
		// integrator who appended one meant something by it.
		errs.add(docs[1].Line, "", "only one YAML document is allowed (found a second one)")
	}

	top := docs[0]
	if top.Kind == yaml.DocumentNode {
		if len(top.Content) == 0 {
			return
		}
		top = top.Content[0]
	}
	top = resolve(top)
	if isNull(top) {
		return // "---" alone
	}
	if top.Kind != yaml.MappingNode {
		errs.add(top.Line, "", "want a mapping of sections (server, session, media, leds, status), got %s", describeAt("", top))
		return
	}
	d := &decoder{src: c.src, errs: errs}
	d.value("", top, reflect.ValueOf(c).Elem())
}

// parseDocs parses the first document, and the start of a second one to
// know whether there is one. It stops there: more is an error anyway.
func parseDocs(data []byte) ([]*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []*yaml.Node
	for range 2 {
		n := new(yaml.Node)
		err := parseYAML(dec, n)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return docs, err
		}
		docs = append(docs, n)
	}
	return docs, nil
}

// parseYAML runs yaml.v3's parser. It has had panics on crafted input in
// the past; kioskd must report bad config, not crash on it (docs/BEHAVIOUR.md section 13b).
func parseYAML(dec *yaml.Decoder, n *yaml.Node) (err error) {
	defer func() {
		// The panic value is not passed on: it may quote the input, which
		// may be a token file given by mistake.
		if r := recover(); r != nil {
			err = errors.New("yaml: the YAML parser failed on this file")
		}
	}()
	return dec.Decode(n)
}

var yamlLine = regexp.MustCompile(`(?s)^yaml: line (\d+): (.*)$`)

// splitYAMLError separates yaml.v3's "yaml: line N: msg" into N and msg.
func splitYAMLError(err error) (line int, msg string) {
	msg = err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		return line, m[2]
	}
	return 0, strings.TrimPrefix(msg, "yaml: ")
}

// addSyntaxError turns a yaml.v3 error into a KeyError with a line.
func addSyntaxError(errs *errorList, data []byte, err error) {
	line, msg := splitYAMLError(err)
	line = syntaxLine(data, msg, line)
	if strings.Contains(msg, "cannot start any token") && lineStartsWithTab(data, max(line, 1)) {
		msg += " (YAML does not allow tabs for indentation)"
	}
	errs.add(line, "", "%s", msg)
}

// syntaxLine finds the line of a syntax error. yaml.v3 names the line
// where the enclosing block or flow began (for parser errors sometimes the
// line before it), and no line at all for bad bytes, unknown anchors or
// excessive nesting. Parsing stops at the fault, so every prefix of the
// file that contains the faulty line fails with the same message, and the
// shortest such prefix ends on it: bisect for it, in about log2(lines)
// parses, only ever on a broken file. If the search is inconclusive,
// yaml.v3's line stands.
func syntaxLine(data []byte, msg string, yamlLine int) int {
	ends := lineEnds(data)
	failsSame := func(lines int) bool {
		_, err := parseDocs(data[:ends[lines-1]])
		if err == nil {
			return false
		}
		_, m := splitYAMLError(err)
		return m == msg
	}
	if !failsSame(len(ends)) {
		return yamlLine
	}
	lo, hi := 1, len(ends)
	for lo < hi {
		mid := lo + (hi-lo)/2
		if failsSame(mid) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

// lineEnds returns the end offset of every line, counting line breaks as
// YAML does (and so as node lines do): \n, \r\n, a lone \r, NEL, LS, PS.
func lineEnds(data []byte) []int {
	var ends []int
	for i := 0; i < len(data); i++ {
		switch {
		case data[i] == '\r' && i+1 < len(data) && data[i+1] == '\n':
			i++
			ends = append(ends, i+1)
		case data[i] == '\r' || data[i] == '\n':
			ends = append(ends, i+1)
		case bytes.HasPrefix(data[i:], []byte("\u0085")):
			i++
			ends = append(ends, i+1)
		case bytes.HasPrefix(data[i:], []byte("\u2028")) || bytes.HasPrefix(data[i:], []byte("\u2029")):
			i += 2
			ends = append(ends, i+1)
		}
	}
	if len(ends) == 0 || ends[len(ends)-1] != len(data) {
		ends = append(ends, len(data)) // the last line has no break
	}
	return ends
}

func lineStartsWithTab(data []byte, line int) bool {
	ends := lineEnds(data)
	start := 0
	if line > 1 && line-2 < len(ends) {
		start = ends[line-2]
	}
	return start < len(data) && data[start] == '\t'
}

var durationType = reflect.TypeFor[time.Duration]()

// value decodes n into v; path is v's dotted key, keyLine the line of the
// key that led here (the line errors name).
func (d *decoder) value(path string, n *yaml.Node, v reflect.Value) {
	d.valueAt(path, 0, n, v)
}

func (d *decoder) valueAt(path string, keyLine int, n *yaml.Node, v reflect.Value) {
	n = resolve(n)
	line := keyLine
	if line == 0 {
		line = n.Line
	}
	if v.Type() == durationType {
		d.duration(path, line, n, v)
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		d.structure(path, line, n, v)
	case reflect.Map:
		d.stringMap(path, line, n, v)
	case reflect.Slice:
		d.sequence(path, line, n, v)
	case reflect.Bool:
		d.boolean(path, line, n, v)
	case reflect.Int:
		d.integer(path, line, n, v)
	case reflect.String:
		if s, ok := d.str(path, line, n); ok {
			v.SetString(s)
		}
	default:
		// Only reachable by adding a field of a new kind to Config;
		// TestSchemaKinds catches that before it ships.
		panic(fmt.Sprintf("config: field %s has unsupported type %s", path, v.Type()))
	}
}

// structure decodes a mapping into a struct by its yaml tags.
func (d *decoder) structure(path string, line int, n *yaml.Node, v reflect.Value) {
	if isNull(n) {
		return // a section whose keys are all commented out: defaults
	}
	if n.Kind != yaml.MappingNode {
		d.errs.add(line, path, "want a mapping, got %s", describeAt(path, n))
		return
	}
	fields := fieldsOf(v.Type())
	d.mapping(path, n, func(name string, keyLine int, val *yaml.Node) {
		i, ok := fields[name]
		if !ok {
			d.unknownKey(path, name, keyLine, v.Type())
			return
		}
		key := joinKey(path, name)
		d.src.set(key, keyLine)
		d.valueAt(key, keyLine, val, v.Field(i))
	})
}

// maxListLength bounds a list in the file (server.ice_servers, its urls):
// the real ones hold a few entries, and validation sets tighter limits;
// this one only keeps a hostile file from making many structs.
const maxListLength = 64

// sequence decodes a YAML list into a slice (of strings or structs); the
// elements are named path[0], path[1], … in errors. It replaces the
// default slice. A null (every entry commented out) is an empty list.
func (d *decoder) sequence(path string, line int, n *yaml.Node, v reflect.Value) {
	v.Set(reflect.Zero(v.Type()))
	d.src.forget(path) // a later file's list replaces an earlier one's whole
	if isNull(n) || n.Kind == yaml.SequenceNode && len(n.Content) == 0 {
		return // nil, as in Default: [] and nothing are the same
	}
	if n.Kind != yaml.SequenceNode {
		d.errs.add(line, path, "want a list, got %s", describeAt(path, n))
		return
	}
	if len(n.Content) > maxListLength {
		d.errs.add(line, path, "at most %d entries (got %d)", maxListLength, len(n.Content))
		return
	}
	out := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, el := range n.Content {
		key := fmt.Sprintf("%s[%d]", path, i)
		d.src.set(key, el.Line)
		d.valueAt(key, el.Line, el, out.Index(i))
	}
	v.Set(out)
}

// stringMap decodes a mapping of names to strings (leds.lines). It
// replaces the default map: merging would leave a traffic light's red,
// amber and green in a bar profile.
func (d *decoder) stringMap(path string, line int, n *yaml.Node, v reflect.Value) {
	m := map[string]string{}
	d.src.forget(path) // an earlier file's entries are replaced too
	if !isNull(n) {
		if n.Kind != yaml.MappingNode {
			d.errs.add(line, path, "want a mapping, got %s", describeAt(path, n))
			return
		}
		d.mapping(path, n, func(name string, keyLine int, val *yaml.Node) {
			key := joinKey(path, keyName(name))
			d.src.set(key, keyLine)
			if s, ok := d.str(key, keyLine, resolve(val)); ok {
				m[name] = s
			}
		})
	}
	v.Set(reflect.ValueOf(m))
}

// mapping calls each for every key of n once, in file order, after
// reporting keys that are not plain names and duplicates.
func (d *decoder) mapping(path string, n *yaml.Node, each func(name string, keyLine int, val *yaml.Node)) {
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := resolve(n.Content[i]), n.Content[i+1]
		if d.errs.full() {
			d.errs.dropped++
			continue
		}
		if k.Kind != yaml.ScalarNode {
			d.errs.add(k.Line, path, "keys must be plain names, got %s", describeAt(path, k))
			continue
		}
		if k.Tag == "!!merge" {
			d.errs.add(k.Line, path, "merge keys (<<) are not supported; write the keys out")
			continue
		}
		name := k.Value
		if first, dup := seen[name]; dup {
			d.errs.add(k.Line, joinKey(path, keyName(name)), "duplicate key (first at line %d)", first)
			continue
		}
		seen[name] = k.Line
		each(name, k.Line, val)
	}
}

func (d *decoder) duration(path string, line int, n *yaml.Node, v reflect.Value) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
		if n.Kind == yaml.ScalarNode && (n.ShortTag() == "!!int" || n.ShortTag() == "!!float") {
			d.errs.add(line, path, `want a duration with a unit like "30s" or "1m30s", got %s`, describeAt(path, n))
			return
		}
		d.errs.add(line, path, `want a duration like "30s" or "1m30s", got %s`, describeAt(path, n))
		return
	}
	dur, err := time.ParseDuration(n.Value)
	if err != nil {
		d.errs.add(line, path, `want a duration like "30s" or "1m30s", got %s`, describeAt(path, n))
		return
	}
	v.SetInt(int64(dur))
}

func (d *decoder) boolean(path string, line int, n *yaml.Node, v reflect.Value) {
	// Only YAML 1.2 booleans: yes/no/on/off are strings in YAML 1.2, and
	// "no" silently meaning false (the Norway problem) is worse than an error.
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!bool" {
		switch strings.ToLower(n.Value) {
		case "true":
			v.SetBool(true)
			return
		case "false":
			v.SetBool(false)
			return
		}
	}
	d.errs.add(line, path, "want true or false, got %s", describeAt(path, n))
}

func (d *decoder) integer(path string, line int, n *yaml.Node, v reflect.Value) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
		d.errs.add(line, path, "want an integer, got %s", describeAt(path, n))
		return
	}
	var i int
	if err := n.Decode(&i); err != nil {
		d.errs.add(line, path, "integer out of range (got %s)", describeAt(path, n))
		return
	}
	v.SetInt(int64(i))
}

// str accepts any plain scalar as a string (a card or PCM name may look
// like a number) and null as "", but not a boolean: "speaker: false"
// probably means none, and guessing would hide that.
func (d *decoder) str(path string, line int, n *yaml.Node) (string, bool) {
	if n.Kind == yaml.ScalarNode {
		switch n.ShortTag() {
		case "!!null":
			return "", true
		case "!!str", "!!int", "!!float", "!!timestamp":
			return n.Value, true
		}
	}
	d.errs.add(line, path, "want a string, got %s", describeAt(path, n))
	return "", false
}

// unknownKey reports a key Config does not have, with the likeliest
// intended key. The value is never echoed: it may be a secret put in the
// wrong place.
func (d *decoder) unknownKey(path, name string, line int, t reflect.Type) {
	key := joinKey(path, keyName(name))
	if hint, ok := keyHints[strings.ToLower(name)]; ok {
		d.errs.add(line, key, "unknown key (%s)", hint)
		return
	}
	if s := suggest(name, slices.Sorted(mapKeys(fieldsOf(t)))); s != "" {
		d.errs.add(line, key, "unknown key (did you mean %q?)", s)
		return
	}
	if elsewhere := schemaPaths()[normalize(name)]; len(elsewhere) > 0 {
		d.errs.add(line, key, "unknown key here (it belongs under %s)", strings.Join(elsewhere, " or "))
		return
	}
	d.errs.add(line, key, "unknown key")
}

const tokenHint = "the token is never written in the config: give it as the systemd credential named by server.token_credential, or in server.token_file"

// keyHints answer keys integrators are likely to try that must not exist.
var keyHints = map[string]string{
	"token":    tokenHint,
	"password": tokenHint,
	"secret":   tokenHint,
}

func mapKeys(m map[string]int) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// fieldsOf maps yaml names to field indexes.
func fieldsOf(t reflect.Type) map[string]int {
	m := map[string]int{}
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name != "" && name != "-" {
			m[name] = i
		}
	}
	return m
}

// schemaPaths maps every leaf and section name of Config (normalised) to
// its dotted paths, for "it belongs under" hints.
var schemaPaths = sync.OnceValue(func() map[string][]string {
	m := map[string][]string{}
	var walk func(path string, t reflect.Type)
	walk = func(path string, t reflect.Type) {
		for name, i := range fieldsOf(t) {
			key := joinKey(path, name)
			m[normalize(name)] = append(m[normalize(name)], key)
			if ft := t.Field(i).Type; ft.Kind() == reflect.Struct && ft != durationType {
				walk(key, ft)
			}
		}
	}
	walk("", reflect.TypeFor[Config]())
	for _, v := range m {
		slices.Sort(v)
	}
	return m
})

// resolve follows aliases to the anchored node.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 100; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// describeAt is describe, except where a secret may have been pasted:
// the server section (next to token_file) and the top level (a token file
// given as --config is a lone string). There only the kind is named.
func describeAt(path string, n *yaml.Node) string {
	if path != "" && path != "server" && !strings.HasPrefix(path, "server.") {
		return describe(n)
	}
	if n.Kind == yaml.ScalarNode {
		switch n.ShortTag() {
		case "!!null":
			return "nothing"
		case "!!int", "!!float":
			return "a number"
		case "!!bool":
			return "a boolean"
		}
		return "a string"
	}
	return describe(n)
}

// describe names what was found, for "want X, got Y".
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return "nothing"
		case "!!str":
			return quote(n.Value)
		case "!!int", "!!float", "!!bool":
			if len(n.Value) <= maxQuoted {
				return n.Value
			}
			return quote(n.Value)
		}
		return fmt.Sprintf("a value tagged %s", quote(n.ShortTag()))
	}
	return "something else"
}

package director

import (
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// ConfigError is one problem in a config file, at a position.
type ConfigError struct {
	File      string
	Line, Col int
	Msg       string
	Hint      string
}

func (e ConfigError) Error() string {
	s := fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg)
	if e.Hint != "" {
		s += " (" + e.Hint + ")"
	}
	return s
}

// ConfigErrors are all the problems found in a config, in file order.
type ConfigErrors []ConfigError

func (es ConfigErrors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// decoder turns YAML nodes into config structs strictly: it rejects unknown and
// duplicate keys and wrong types, and keeps going so that every error in a file
// is reported at once, each at its line and column. It walks structs itself
// because yaml.v3's Node.Decode ignores KnownFields.
type decoder struct {
	file string
	errs ConfigErrors
	// failed holds the nodes whose value, or part of it, did not decode, so
	// that validation skips them instead of reporting the same mistake again.
	failed map[*yaml.Node]bool
	// typos holds the keys suggested for unknown keys, with their mapping, so
	// that a misspelt key is not reported as missing too.
	typos map[typo]bool
}

type typo struct {
	mapping *yaml.Node
	key     string
}

func newDecoder(file string) *decoder {
	return &decoder{file: file, failed: map[*yaml.Node]bool{}, typos: map[typo]bool{}}
}

// ok reports whether n decoded without errors; a missing node is ok.
func (d *decoder) ok(n *yaml.Node) bool { return n == nil || !d.failed[n] }

// misspelt reports whether mapping n has an unknown key that was taken for key.
func (d *decoder) misspelt(n *yaml.Node, key string) bool { return d.typos[typo{n, key}] }

func (d *decoder) errorf(n *yaml.Node, hint, format string, args ...any) {
	d.errs = append(d.errs, ConfigError{File: d.file, Line: n.Line, Col: n.Column, Msg: fmt.Sprintf(format, args...), Hint: hint})
}

// nodeDecoder is implemented by config types that decode themselves.
type nodeDecoder interface {
	decodeNode(d *decoder, n *yaml.Node)
}

// decode fills v (a pointer) from n. where names the value in messages.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, where string) {
	before := len(d.errs)
	defer func() {
		if len(d.errs) > before {
			d.failed[n] = true
		}
	}()
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if nd, ok := v.Addr().Interface().(nodeDecoder); ok {
		nd.decodeNode(d, n)
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		d.decodeStruct(n, v, where)
	case reflect.Slice:
		if isNull(n) {
			return // an empty list; validation says whether one is required
		}
		if n.Kind != yaml.SequenceNode {
			hint := `start each entry with "- "`
			if n.Kind == yaml.ScalarNode {
				hint = fmt.Sprintf("write a list, e.g. %s: [%s]", lastKey(where), n.Value)
			}
			d.errorf(n, hint, "%s: want a list, got %s", where, describe(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, el := range n.Content {
			d.decode(el, s.Index(i), fmt.Sprintf("%s[%d]", where, i))
		}
		v.Set(s)
	case reflect.Pointer:
		if isNull(n) {
			return
		}
		p := reflect.New(v.Type().Elem())
		d.decode(n, p.Elem(), where)
		v.Set(p)
	default:
		d.decodeScalar(n, v, where)
	}
}

func (d *decoder) decodeScalar(n *yaml.Node, v reflect.Value, where string) {
	want := map[reflect.Kind]string{reflect.String: "a string", reflect.Bool: "true or false", reflect.Int: "a whole number"}[v.Kind()]
	if n.Kind != yaml.ScalarNode || isNull(n) {
		d.errorf(n, "", "%s: want %s, got %s", where, want, describe(n))
		return
	}
	if v.Kind() >= reflect.Int && v.Kind() <= reflect.Uint64 && n.ShortTag() == "!!float" {
		// yaml.v3 would truncate 1.9 to 1, and 0.5 to 0 (keep forever).
		d.errorf(n, "", "%s: want %s, got %s", where, want, n.Value)
		return
	}
	if err := n.Decode(v.Addr().Interface()); err != nil {
		hint := ""
		unquoted := yaml.Node{Kind: yaml.ScalarNode, Value: n.Value}
		if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 && unquoted.Decode(v.Addr().Interface()) == nil {
			hint = "remove the quotes"
		}
		d.errorf(n, hint, "%s: want %s, got %q", where, want, n.Value)
	}
}

// decodeStruct decodes a mapping into a struct whose fields carry yaml tags;
// ",inline" fields are flattened.
func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, where string) {
	fields := map[string]reflect.Value{}
	collectFields(v, fields)
	if n.Kind != yaml.MappingNode {
		d.errorf(n, "valid keys: "+strings.Join(sortedKeys(fields), ", "), "%swant a mapping of keys, got %s", prefix(where), describe(n))
		return
	}
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if prev, dup := seen[k.Value]; dup {
			d.errorf(k, fmt.Sprintf("first at line %d", prev.Line), "%skey %q appears twice", prefix(where), k.Value)
			continue
		}
		seen[k.Value] = k
		f, ok := fields[k.Value]
		if !ok {
			hint, best := keyHint(k.Value, fields)
			if best != "" {
				d.typos[typo{n, best}] = true
			}
			d.errorf(k, hint, "%sunknown key %q", prefix(where), k.Value)
			continue
		}
		d.decode(val, f, join(where, k.Value))
	}
}

// collectFields maps yaml keys to the fields of the struct v.
func collectFields(v reflect.Value, into map[string]reflect.Value) {
	t := v.Type()
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := sf.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if opts == "inline" {
			collectFields(v.Field(i), into)
			continue
		}
		if name == "" || name == "-" || !sf.IsExported() {
			continue
		}
		into[name] = v.Field(i)
	}
}

func sortedKeys(fields map[string]reflect.Value) []string {
	names := make([]string, 0, len(fields))
	for k := range fields {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// keyHint suggests the closest valid key, returned as best, or lists them all.
func keyHint(key string, fields map[string]reflect.Value) (hint, best string) {
	names := sortedKeys(fields)
	bestDist := 3
	for _, k := range names {
		if dist := editDistance(key, k); dist < bestDist {
			best, bestDist = k, dist
		}
	}
	if best == "" {
		for _, k := range names {
			if len(key) >= 4 && strings.HasPrefix(k, key) {
				best = k // identity for identity_file
				break
			}
		}
	}
	if best != "" {
		return fmt.Sprintf("did you mean %q?", best), best
	}
	return "valid keys: " + strings.Join(names, ", "), ""
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.Tag == "!!null" }

// describe names what a node is, for "want X, got Y" messages.
func describe(n *yaml.Node) string {
	switch {
	case n.Kind == yaml.MappingNode:
		return "a mapping"
	case n.Kind == yaml.SequenceNode:
		return "a list"
	case isNull(n):
		return "nothing"
	case n.Tag == "!!str":
		return strconv.Quote(n.Value)
	}
	return n.Value
}

// prefix returns "where: ", or nothing at the top level.
func prefix(where string) string {
	if where == "" {
		return ""
	}
	return where + ": "
}

// join names key inside where: repository.path, or item "site": paths after
// a named item.
func join(where, key string) string {
	switch {
	case where == "":
		return key
	case strings.HasSuffix(where, `"`):
		return where + ": " + key
	}
	return where + "." + key
}

func lastKey(where string) string {
	if i := strings.LastIndex(where, ": "); i >= 0 {
		where = where[i+2:]
	}
	return where[strings.LastIndexByte(where, '.')+1:]
}

// yamlLine finds the line number in a yaml.v3 syntax error message.
var yamlLine = regexp.MustCompile(`line (\d+)`)

// syntaxHints explain yaml.v3's most common complaints in a sysadmin's terms.
var syntaxHints = map[string]string{
	"did not find expected key":                             "check the indentation: the keys of one mapping start in the same column",
	"did not find expected '-' indicator":                   "check the indentation: the entries of one list start in the same column",
	"mapping values are not allowed in this context":        `check the indentation, and quote a value that contains ": "`,
	"did not find expected ',' or ']'":                      "a list opened with [ needs a closing ]",
	"did not find expected ',' or '}'":                      "a mapping opened with { needs a closing }",
	"did not find expected alphabetic or numeric character": `quote a value that starts with * or &, e.g. "*.log"`,
	"found unexpected end of stream":                        "is a quote left open?",
}

// syntaxError converts a yaml.v3 parse error into a ConfigError. yaml.v3 often
// names the line before the enclosing block instead of the offending line, so
// the line reported is found by bisection: the first one, from yaml.v3's on, at
// which a prefix of the file fails with the same complaint. The column is where
// the text of that line starts.
func syntaxError(file string, data []byte, err error) ConfigError {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 1
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = strings.TrimPrefix(strings.Replace(msg, m[0]+": ", "", 1), m[0])
	}
	msg = strings.TrimSpace(msg)
	lines := strings.SplitAfter(string(data), "\n")
	failsAt := func(k int) bool { // whether lines 1..k fail with msg
		var n yaml.Node
		err := yaml.Unmarshal([]byte(strings.Join(lines[:k], "")), &n)
		return err != nil && strings.HasSuffix(err.Error(), ": "+msg)
	}
	if lo, hi := max(line, 1)-1, len(lines); lo < hi { // the whole file fails at hi
		for hi-lo > 1 {
			if mid := (lo + hi) / 2; failsAt(mid) {
				hi = mid
			} else {
				lo = mid
			}
		}
		line = hi
	}
	col, hint := 1, syntaxHints[msg]
	if line <= len(lines) {
		text := lines[line-1]
		if i := strings.IndexFunc(text, func(r rune) bool { return r != ' ' }); i >= 0 {
			col = i + 1
		}
		if strings.HasPrefix(text[col-1:], "\t") {
			hint = "indent with spaces: YAML does not allow tabs"
		}
	}
	return ConfigError{File: file, Line: line, Col: col, Msg: "YAML syntax: " + msg, Hint: hint}
}

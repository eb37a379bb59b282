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
}

func (d *decoder) errorf(n *yaml.Node, hint, format string, args ...any) {
	d.errs = append(d.errs, ConfigError{File: d.file, Line: n.Line, Col: n.Column, Msg: fmt.Sprintf(format, args...), Hint: hint})
}

// nodeDecoder is implemented by config types that decode themselves.
type nodeDecoder interface {
	decodeNode(d *decoder, n *yaml.Node)
}

// decode fills v (a pointer) from n. where names the value in messages.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, where string) {
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
		if n.Kind != yaml.SequenceNode {
			d.errorf(n, fmt.Sprintf("write a list, e.g. %s: [%s]", lastKey(where), n.Value), "%s: want a list, got %s", where, describe(n))
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
	if err := n.Decode(v.Addr().Interface()); err != nil {
		d.errorf(n, "", "%s: want %s, got %q", where, want, n.Value)
	}
}

// decodeStruct decodes a mapping into a struct whose fields carry yaml tags;
// ",inline" fields are flattened.
func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, where string) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, "", "%s: want a mapping of keys, got %s", where, describe(n))
		return
	}
	fields := map[string]reflect.Value{}
	collectFields(v, fields)
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
			d.errorf(k, keyHint(k.Value, fields), "%sunknown key %q", prefix(where), k.Value)
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

// keyHint suggests the closest valid key, or lists them all.
func keyHint(key string, fields map[string]reflect.Value) string {
	names := make([]string, 0, len(fields))
	for k := range fields {
		names = append(names, k)
	}
	sort.Strings(names)
	best, bestDist := "", 3
	for _, k := range names {
		if dist := editDistance(key, k); dist < bestDist {
			best, bestDist = k, dist
		}
	}
	if best != "" {
		return fmt.Sprintf("did you mean %q?", best)
	}
	return "valid keys: " + strings.Join(names, ", ")
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

func join(where, key string) string {
	if where == "" {
		return key
	}
	return where + "." + key
}

func lastKey(where string) string {
	return where[strings.LastIndexByte(where, '.')+1:]
}

// yamlLine finds the line number in a yaml.v3 syntax error message.
var yamlLine = regexp.MustCompile(`line (\d+)`)

// syntaxError converts a yaml.v3 parse error into a ConfigError.
func syntaxError(file string, err error) ConfigError {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 1
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = strings.TrimPrefix(strings.Replace(msg, m[0]+": ", "", 1), m[0])
	}
	return ConfigError{File: file, Line: line, Col: 1, Msg: "YAML syntax: " + strings.TrimSpace(msg)}
}

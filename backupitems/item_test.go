package backupitems

import (
	"fmt"
	"maps"
	"reflect"
	"strings"
	"testing"
)

// TestTypes pins the registered item types: adding one is a deliberate change
// that updates this list, the docs and examples/configs.
func TestTypes(t *testing.T) {
	want := []string{"command", "filesystem", "mysql", "postgresql", "svn"}
	var got []string
	for _, typ := range Types() {
		got = append(got, typ.Name)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("registered types = %q, want %q", got, want)
	}
	for _, typ := range Types() {
		t.Run(typ.Name, func(t *testing.T) {
			if typ.Summary == "" {
				t.Errorf("no Summary for help texts")
			}
			looked, ok := Lookup(typ.Name)
			if !ok || looked.Name != typ.Name {
				t.Errorf("Lookup(%q) = %+v, %v", typ.Name, looked, ok)
			}
			a, b := typ.New(), typ.New()
			if a == nil || a.Header() == nil {
				t.Fatalf("New() = %v, want an item with a header", a)
			}
			if a == b {
				t.Errorf("New() returned the same item twice; each config item needs its own")
			}
		})
	}
}

func TestLookupUnknown(t *testing.T) {
	for _, name := range []string{"", "mariadb", "Filesystem", " filesystem", "MySQL"} {
		if typ, ok := Lookup(name); ok {
			t.Errorf("Lookup(%q) = %+v, want not found", name, typ)
		}
	}
}

func TestTypesSorted(t *testing.T) {
	withRegistry(t)
	for _, name := range []string{"zz-test", "aa-test", "mm-test"} {
		Register(Type{Name: name, New: func() Item { return &Filesystem{} }})
	}
	var got []string
	for _, typ := range Types() {
		got = append(got, typ.Name)
	}
	want := []string{"aa-test", "command", "filesystem", "mm-test", "mysql", "postgresql", "svn", "zz-test"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Types() = %q, want %q", got, want)
	}
}

func TestRegisterPanics(t *testing.T) {
	newItem := func() Item { return &Filesystem{} }
	tests := []struct {
		name    string
		types   []Type // registered in order; the last one must panic
		wantMsg string
	}{
		{"empty name", []Type{{Name: "", New: newItem}}, "needs a name and a constructor"},
		{"no constructor", []Type{{Name: "nothing"}}, "needs a name and a constructor"},
		{"duplicate of a built-in type", []Type{{Name: "filesystem", New: newItem}}, `type "filesystem" registered twice`},
		{"duplicate of a new type", []Type{{Name: "dup-test", New: newItem}, {Name: "dup-test", New: newItem}}, `type "dup-test" registered twice`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			withRegistry(t)
			last := len(tt.types) - 1
			for _, typ := range tt.types[:last] {
				Register(typ)
			}
			before := maps.Clone(registry)
			msg := panics(t, func() { Register(tt.types[last]) })
			if !strings.Contains(msg, tt.wantMsg) {
				t.Errorf("panic %q, want one containing %q", msg, tt.wantMsg)
			}
			if !maps.EqualFunc(registry, before, func(a, b Type) bool { return a.Name == b.Name }) {
				t.Errorf("a Register that panicked changed the registry")
			}
		})
	}
}

// TestRegistryRestored checks that the helpers of this file leave the registry
// as init() made it; it runs after the tests above.
func TestRegistryRestored(t *testing.T) {
	if len(registry) != 5 {
		t.Errorf("registry holds %d types after the tests, want 5: %v", len(registry), Types())
	}
}

// withRegistry lets a test register types: the registry is restored when the
// test ends.
func withRegistry(t testing.TB) {
	t.Helper()
	saved := maps.Clone(registry)
	t.Cleanup(func() { registry = saved })
}

// panics runs f and returns what it panicked with; it fails t if f returns.
func panics(t testing.TB, f func()) (msg string) {
	t.Helper()
	defer func() {
		r := recover()
		if r == nil {
			t.Errorf("no panic")
		}
		msg = fmt.Sprint(r)
	}()
	f()
	return ""
}

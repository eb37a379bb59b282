package director

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// TestSortNames: sortNames orders a directory's names bytewise, whatever
// prefix they share, however long, and ties in the first 8 bytes after it.
func TestSortNames(t *testing.T) {
	for _, c := range []struct {
		name  string
		names []string
	}{
		{"empty", nil},
		{"one", []string{"a"}},
		{"shared prefix", []string{"file-000123.dat", "file-000012.dat", "file-000124.dat", "file-000123.da", "file-000123.datx"}},
		{"prefix of another", []string{"ab", "a", "abc", "abcdefghij", "abcdefghi", "abcdefghik"}},
		{"ties past 8 bytes", []string{"x12345678b", "x12345678a", "x12345678", "x123456789", "y"}},
		{"high bytes", []string{"\xff", "\x7f", "a\xff", "a\x01", "-", "~"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, prefix := range []string{"", "d/", "deep/er/"} {
				ents := make([]dirent, len(c.names))
				for i, n := range c.names {
					ents[i] = dirent{rel: prefix + n, ino: uint64(i)}
				}
				rand.Shuffle(len(ents), func(i, j int) { ents[i], ents[j] = ents[j], ents[i] })
				got, _ := sortNames(ents, len(prefix), nil, nil)
				var names []string
				for _, e := range got {
					names = append(names, strings.TrimPrefix(e.rel, prefix))
				}
				want := slices.Clone(c.names)
				slices.Sort(want)
				if !slices.Equal(names, want) {
					t.Errorf("prefix %q: %q, want %q", prefix, names, want)
				}
			}
		})
	}
}

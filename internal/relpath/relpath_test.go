package relpath

import (
	"errors"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	long := strings.Repeat(strings.Repeat("a", 200)+"/", 20) // 4,020 bytes
	tests := []struct {
		name, path string
		ok         bool
	}{
		{"plain", "var/www/index.html", true},
		{"one name", "etc", true},
		{"dots inside names", "a/..b/c../.d", true},
		{"near PATH_MAX", long + "x", true},
		{"empty", "", false},
		{"absolute", "/etc/passwd", false},
		{"dot-dot", "srv/../../etc", false},
		{"dot-dot at the end", "srv/..", false},
		{"dot", "srv/./x", false},
		{"empty segment", "srv//x", false},
		{"trailing slash", "srv/", false},
		{"NUL", "srv/a\x00b", false},
		{"over PATH_MAX", long + strings.Repeat("b", 100), false},
		{"over NAME_MAX", "srv/" + strings.Repeat("n", 256), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Check(tt.path)
			if (err == nil) != tt.ok {
				t.Fatalf("Check(%.40q) = %v, want ok=%v", tt.path, err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrUnsafe) {
				t.Fatalf("error %v does not wrap ErrUnsafe", err)
			}
			if err != nil && strings.Contains(err.Error(), "\n") {
				t.Fatalf("error is not one line: %q", err)
			}
		})
	}
}

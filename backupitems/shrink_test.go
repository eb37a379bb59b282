package backupitems

import "testing"

func TestCheckShrink(t *testing.T) {
	tests := []struct {
		name        string
		allow       bool
		files, base int64
		want        string // "" for no error
	}{
		{"no base", false, 0, 0, ""},
		{"same", false, 120345, 120345, ""},
		{"half", false, 60173, 120345, ""},
		{"below half", false, 60172, 120345, "/mnt/data has 60,172 files, its base had 120,345: is it mounted? (if it really shrank, set allow_shrink: true on the item for one run)"},
		{"empty", false, 0, 120345, "/mnt/data has 0 files, its base had 120,345: is it mounted? (if it really shrank, set allow_shrink: true on the item for one run)"},
		{"empty from one", false, 0, 1, "/mnt/data has 0 files, its base had 1: is it mounted? (if it really shrank, set allow_shrink: true on the item for one run)"},
		{"allowed", true, 0, 120345, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &Filesystem{Paths: []string{"/mnt/data"}, AllowShrink: tt.allow}
			err := CheckShrink(f, tt.files, tt.base)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Fatalf("got %q\nwant %q", got, tt.want)
			}
		})
	}
}

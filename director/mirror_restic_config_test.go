package director

import "testing"

func TestKibPerSecond(t *testing.T) {
	for in, want := range map[string]int{"500": 500, "10M": 10240, "1.5G": 1572864, "64k": 64, "0.1": 1} {
		if got := kibPerSecond(in); got != want {
			t.Errorf("kibPerSecond(%q) = %d, want %d", in, got, want)
		}
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"rest:https://user:hunter2@backup.example.com/depot": "rest:https://user:***@backup.example.com/depot",
		"s3:https://s3.example.com/bucket/depot":             "s3:https://s3.example.com/bucket/depot",
		"sftp:user@host:/srv/restic":                         "sftp:user@host:/srv/restic",
	} {
		if got := redactURL(in); got != want {
			t.Errorf("redactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

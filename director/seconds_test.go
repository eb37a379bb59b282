package director

import (
	"strconv"
	"testing"
	"time"
)

func TestSecondsPrintShort(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want string
	}{
		{1739 * time.Millisecond, "1.739"},
		{1739*time.Millisecond + 400*time.Microsecond, "1.739"},
		{88 * time.Millisecond, "0.088"},
		{0, "0"},
		{2 * time.Hour, "7200"},
	} {
		if got := strconv.FormatFloat(seconds(c.d), 'f', -1, 64); got != c.want {
			t.Errorf("seconds(%v) prints %s, want %s", c.d, got, c.want)
		}
	}
}

package repository

import (
	"strconv"
	"testing"
)

// TestParseNumbersMatchStrconv pins the fast number parsers of file list
// lines to strconv's results and errors, on plain digits and on everything
// they hand to strconv.
func TestParseNumbersMatchStrconv(t *testing.T) {
	for _, s := range []string{"0", "7", "100644", "40755", "999999999", "1000000000", "4294967295", "4294967296",
		"", "-", "-0", "-12", "+5", "1_0", "8", "9", "12a", " 1", "1763712000123456789", "-1763712000123456789",
		"9223372036854775807", "9223372036854775808", "-9223372036854775808", "-9223372036854775809", "9999999999999999999", "18446744073709551616", "123456789012345678", "1234567890123456789"} {
		for _, base := range []int{8, 10} {
			want, werr := strconv.ParseUint(s, base, 32)
			got, gerr := parseUint(s, base, 32)
			if got != want || (gerr == nil) != (werr == nil) {
				t.Errorf("parseUint(%q, %d) = %d, %v; strconv: %d, %v", s, base, got, gerr, want, werr)
			}
		}
		want, werr := strconv.ParseInt(s, 10, 64)
		got, gerr := parseInt(s)
		if got != want || (gerr == nil) != (werr == nil) {
			t.Errorf("parseInt(%q) = %d, %v; strconv: %d, %v", s, got, gerr, want, werr)
		}
	}
}

package rsync

import (
	"bufio"
	"bytes"
	"strings"
)

// parseItemized reads --out-format="%i %n" lines: an 11-character change
// summary such as ">f+++++++++" or "hf         ", a space, and the name with
// unprintable bytes escaped as \#ooo. Deletions ("*deleting") are skipped.
// An "h" summary with no attribute flags is a hard link to the --link-dest
// copy: unchanged.
func parseItemized(out []byte) map[string]bool {
	paths := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if name, linked, ok := parseItemizedLine(sc.Text()); ok && name != "" {
			paths[name] = linked
		}
	}
	return paths
}

// parseItemizedLine reads one line of parseItemized's: ok when it is one,
// with an empty name for the transfer's top directory.
func parseItemizedLine(line string) (name string, linked, ok bool) {
	if len(line) < 13 || line[11] != ' ' || !strings.ContainsRune("<>ch.", rune(line[0])) || !strings.ContainsRune("fdLDS", rune(line[1])) {
		return "", false, false
	}
	name = strings.Trim(unescapeName(line[12:]), "/")
	if name == "." {
		name = ""
	}
	return name, line[0] == 'h' && strings.Trim(line[2:11], " .") == "", true
}

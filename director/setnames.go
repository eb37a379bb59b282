package director

import "fmt"

// checkSetName refuses a set name given on the command line that no config
// could hold: ../holding/web, an empty name, a path.
func checkSetName(name string) error {
	if !validName.MatchString(name) {
		return &UsageError{Msg: fmt.Sprintf("%q is not a set name (%s)", name, nameHint)}
	}
	return nil
}

// uniqueNames returns names without repeats, in their first order: depot
// run web web backs web up once.
func uniqueNames(names []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, n := range names {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

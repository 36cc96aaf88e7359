package pipelines

import (
	"fmt"
	"strings"
)

// EnvLookup finds an environment variable; os.LookupEnv in production, a
// map in tests.
type EnvLookup func(name string) (string, bool)

// envError is a problem with a ${...} reference, at byte offset Off of the
// scalar it occurs in.
type envError struct {
	Off  int
	Msg  string
	Hint string
}

// expandEnv replaces ${NAME} and ${NAME:-default} in s. "$${" is an escape
// for a literal "${". A reference to an unset variable without a default
// is an error, reported at its offset so the lint points at it. changed
// reports whether s was rewritten (positions inside it then no longer map
// one to one onto the file).
func expandEnv(s string, lookup EnvLookup) (out string, changed bool, errs []envError) {
	if !strings.Contains(s, "${") {
		return s, false, nil
	}
	var b strings.Builder
	i := 0
	for i < len(s) {
		j := strings.Index(s[i:], "${")
		if j < 0 {
			b.WriteString(s[i:])
			break
		}
		j += i
		if j > 0 && s[j-1] == '$' { // "$${" escape
			b.WriteString(s[i : j-1])
			b.WriteString("${")
			i = j + 2
			continue
		}
		b.WriteString(s[i:j])
		end := strings.IndexByte(s[j:], '}')
		if end < 0 {
			errs = append(errs, envError{Off: j, Msg: "unterminated ${ in value", Hint: "close it with }, or write $${ for a literal ${"})
			b.WriteString(s[j:])
			break
		}
		end += j
		ref := s[j+2 : end]
		name, def, hasDef := strings.Cut(ref, ":-")
		if !validEnvName(name) {
			errs = append(errs, envError{Off: j, Msg: fmt.Sprintf("bad environment variable reference ${%s}", ref), Hint: "use ${NAME} or ${NAME:-default}; names are letters, digits and _"})
		} else if v, ok := lookup(name); ok && (v != "" || !hasDef) {
			b.WriteString(v)
		} else if hasDef {
			b.WriteString(def)
		} else {
			errs = append(errs, envError{Off: j, Msg: fmt.Sprintf("environment variable %s is not set", name), Hint: fmt.Sprintf("set it, or give a default with ${%s:-value}", name)})
		}
		i = end + 1
	}
	return b.String(), true, errs
}

func validEnvName(n string) bool {
	if n == "" {
		return false
	}
	for i, r := range n {
		switch {
		case r == '_', r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

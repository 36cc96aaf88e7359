package pipelines

import "testing"

func TestExpandEnv(t *testing.T) {
	env := func(n string) (string, bool) {
		v, ok := map[string]string{"A": "alpha", "EMPTY": ""}[n]
		return v, ok
	}
	cases := []struct {
		in, out string
		errs    int
	}{
		{"plain", "plain", 0},
		{"${A}", "alpha", 0},
		{"x-${A}-y", "x-alpha-y", 0},
		{"${B:-beta}", "beta", 0},
		{"${EMPTY:-dflt}", "dflt", 0},
		{"${EMPTY}", "", 0},
		{"${A:-unused}", "alpha", 0},
		{"$${A}", "${A}", 0},
		{"${B}", "", 1},
		{"${A", "${A", 1},
		{"${1X}", "", 1},
		{"${A}${B:-b}${A}", "alphabalpha", 0},
	}
	for _, c := range cases {
		got, _, errs := expandEnv(c.in, env)
		if got != c.out || len(errs) != c.errs {
			t.Errorf("expandEnv(%q) = %q, %d errors; want %q, %d", c.in, got, len(errs), c.out, c.errs)
		}
	}
}

func TestEditDistance(t *testing.T) {
	for _, c := range []struct {
		a, b string
		d    int
	}{{"filter", "fliter", 1}, {"size", "sise", 1}, {"", "abc", 3}, {"window", "window", 0}, {"tumbling", "tumblng", 1}} {
		if got := editDistance(c.a, c.b); got != c.d {
			t.Errorf("editDistance(%q, %q) = %d, want %d", c.a, c.b, got, c.d)
		}
	}
}

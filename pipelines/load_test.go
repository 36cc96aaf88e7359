package pipelines

import (
	"testing"
)

func TestValidFilesLintClean(t *testing.T) {
	set, diags, err := Lint(&Options{Env: testEnv}, "testdata/valid")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range diags {
		t.Errorf("unexpected: %s", d)
	}
	var names []string
	for _, p := range set.Pipelines {
		names = append(names, p.Name)
		if p.Name == "everything" && p.Guarantee != "exactly_once" {
			t.Errorf("everything: guarantee %q, want exactly_once", p.Guarantee)
		}
	}
	if got := len(names); got != 5 {
		t.Errorf("pipelines %v, want 5", names)
	}
}

func TestDirectoryAndDefaults(t *testing.T) {
	set, diags, err := Lint(&Options{Env: testEnv}, "testdata/dir")
	if err != nil || len(diags) > 0 {
		t.Fatalf("%v %v", err, diags)
	}
	if len(set.Pipelines) != 2 || set.Pipelines[0].Name != "dir-a" || set.Pipelines[1].Name != "dir-b" {
		t.Fatalf("pipelines: %+v", set.Pipelines)
	}
	p := set.Pipelines[0]
	if p.ApplicationID != "sluice-dir-a" || p.Guarantee != "at_least_once" {
		t.Errorf("defaults: %+v", p)
	}
	// The same pipelines twice: every name is a duplicate.
	_, diags, err = Lint(&Options{Env: testEnv}, "testdata/dir", "testdata/dir/a.yaml")
	if err != nil || len(diags) != 1 {
		t.Errorf("duplicate across paths: %v %v", err, diags)
	}
	if _, _, err := Lint(nil, "testdata/nope"); err == nil {
		t.Error("missing path: no error")
	}
}

func TestEnvSubstitutionKeepsPositions(t *testing.T) {
	src := "name: e\nsources:\n  in: ${TOPIC}\nsteps:\n  - filter: 'x > ${LIMIT:-3} && y == \"a\"'\nto: out\nsinks: {out: '${OUT:-fallback}'}\n"
	env := func(n string) (string, bool) {
		v, ok := map[string]string{"TOPIC": "readings"}[n]
		return v, ok
	}
	ps, diags := Parse("e.yaml", []byte(src), &Options{Env: env})
	diags = append(diags, Check(&Set{Pipelines: ps}, &Options{Env: env})...)
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	p := ps[0]
	if p.Sources[0].Topic != "readings" || p.Sinks[0].Topic != "fallback" {
		t.Errorf("substituted: source %q sink %q", p.Sources[0].Topic, p.Sinks[0].Topic)
	}
	f := p.Steps[0].(*FilterStep)
	if f.Cond.Src != `x > 3 && y == "a"` || f.Cond.Pos.Line != 5 || f.Cond.Pos.Col != 14 {
		t.Errorf("filter: %q at %v", f.Cond.Src, f.Cond.Pos)
	}
	// An unset variable is reported where it is written.
	_, diags = Parse("e.yaml", []byte("name: e\nsources: {in: \"t-${NOPE}\"}\nto: o\nsinks: {o: x}\n"), &Options{Env: env})
	if len(diags) != 1 || diags[0].Pos.String() != "e.yaml:2:18" {
		t.Errorf("unset variable: %v", diags)
	}
}

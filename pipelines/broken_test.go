package pipelines

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	// The Parquet sink's declared ConfigSpec is what the corpus's
	// connector-option cases are checked against.
	_ "github.com/sluicehq/sluice/connectors/parquet"
)

var update = flag.Bool("update", false, "rewrite the .want files of the broken-pipeline corpus")

// testEnv is the environment the corpus is linted with: fixed, so the
// results do not depend on the machine.
func testEnv(name string) (string, bool) {
	v, ok := map[string]string{"THRESHOLD": "80"}[name]
	return v, ok
}

// TestBrokenCorpus lints every file in testdata/broken and compares every
// diagnostic, exactly, with the file's .want.
func TestBrokenCorpus(t *testing.T) {
	files, err := filepath.Glob("testdata/broken/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 30 {
		t.Fatalf("corpus has %d files, want at least 30", len(files))
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".yaml"), func(t *testing.T) {
			_, diags, err := Lint(&Options{Env: testEnv}, f)
			if err != nil {
				t.Fatal(err)
			}
			if len(diags) == 0 {
				t.Fatalf("%s: lint found no problem", f)
			}
			var got strings.Builder
			for _, d := range diags {
				got.WriteString(d.String())
				got.WriteString("\n")
			}
			wantFile := strings.TrimSuffix(f, ".yaml") + ".want"
			if *update {
				if err := os.WriteFile(wantFile, []byte(got.String()), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(wantFile)
			if err != nil {
				t.Fatalf("%v (run go test -run TestBrokenCorpus -update, then review the .want file)", err)
			}
			if got.String() != string(want) {
				t.Errorf("lint %s:\ngot:\n%s\nwant:\n%s", f, got.String(), want)
			}
		})
	}
}

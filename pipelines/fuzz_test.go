package pipelines

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse feeds arbitrary bytes to the pipeline file decoder and checker:
// whatever the input, they must return diagnostics, never panic. The seed
// corpus is every pipeline file in testdata.
func FuzzParse(f *testing.F) {
	for _, pat := range []string{"testdata/broken/*.yaml", "testdata/valid/*.yaml"} {
		files, _ := filepath.Glob(pat)
		for _, p := range files {
			if data, err := os.ReadFile(p); err == nil {
				f.Add(data)
			}
		}
	}
	f.Add([]byte("name: x\nsources: {a: t}\nsteps:\n  - window: {type: session, gap: 1m, aggregates: {p: 'percentile(x, 50)'}}\nto: o\nsinks: {o: t2}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ps, _ := Parse("fuzz.yaml", data, &Options{Env: testEnv})
		Check(&Set{Pipelines: ps}, &Options{Env: testEnv})
	})
}

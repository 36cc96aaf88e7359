package file

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/connectors"
)

// TestSourceRecordsOutliveLaterReads: records are slices of the reader's
// blocks, not copies, so reading on (across block boundaries, after the
// file grows, after a truncation) must never change a record already
// returned, and appending to a value must not write into the next one.
func TestSourceRecordsOutliveLaterReads(t *testing.T) {
	for _, format := range []string{FormatJSON, FormatText} {
		t.Run(format, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "in.jsonl")
			// Lines of varying length, 2.5 blocks in all, so that lines
			// straddle block boundaries.
			var want []string
			line := func(i int) string {
				return fmt.Sprintf(`{"i":%d,"pad":"%s"}`, i, strings.Repeat("x", i%300))
			}
			var b strings.Builder
			for i := 0; b.Len() < readBlock*5/2; i++ {
				want = append(want, line(i))
				b.WriteString(want[len(want)-1] + "\n")
			}
			if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
				t.Fatal(err)
			}
			h := newHarness(t, map[string]string{"file": path, "format": format, "tail": "true", "batch.size": "777"})
			var got []connectors.Record
			pollAll := func() {
				for empty := 0; empty < 3; {
					recs, err := h.src.Poll(context.Background())
					if err != nil {
						t.Fatal(err)
					}
					if len(recs) == 0 {
						empty++
					}
					got = append(got, recs...)
				}
			}
			pollAll()
			// The file grows: the new lines land in the current block's
			// free space or a new block.
			f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			for i := len(want); i < len(want)+1000; i++ {
				fmt.Fprintln(f, line(i))
			}
			want = append(want, make([]string, 1000)...)
			for i := len(want) - 1000; i < len(want); i++ {
				want[i] = line(i)
			}
			f.Close()
			pollAll()

			if len(got) != len(want) {
				t.Fatalf("read %d records, want %d", len(got), len(want))
			}
			// Appending to a value must not write over the next record.
			for i := range got {
				if cap(got[i].Value) != len(got[i].Value) {
					t.Fatalf("record %d: value has capacity %d beyond its length %d", i, cap(got[i].Value), len(got[i].Value))
				}
				_ = append(got[i].Value, '!')
			}
			for i := range got {
				if string(got[i].Value) != want[i] {
					t.Fatalf("record %d changed after later reads: %q, want %q", i, got[i].Value, want[i])
				}
			}
		})
	}
}

package worker

import (
	"testing"

	"github.com/sluicehq/sluice/connectors"
)

// TestTxnPositions: a transaction keeps the latest position per source
// partition, in the order the partitions first appear, and forgets them
// when it ends.
func TestTxnPositions(t *testing.T) {
	var tx sourceTxn
	pos := func(part, off string) connectors.Position {
		return connectors.Position{Partition: part, Offset: []byte(off)}
	}
	for _, p := range []connectors.Position{pos("a", "1"), pos("a", "2"), {}, pos("b", "1"), pos("a", "3"), pos("c", "1"), pos("b", "2")} {
		tx.addPosition(p)
	}
	want := []connectors.Position{pos("a", "3"), pos("b", "2"), pos("c", "1")}
	check := func() {
		t.Helper()
		if len(tx.positions) != len(want) {
			t.Fatalf("positions %v, want %v", tx.positions, want)
		}
		for i := range want {
			if tx.positions[i].Partition != want[i].Partition || string(tx.positions[i].Offset) != string(want[i].Offset) {
				t.Fatalf("positions %v, want %v", tx.positions, want)
			}
		}
	}
	check()
	tx.reset()
	tx.addPosition(pos("b", "9"))
	tx.addPosition(pos("a", "9"))
	want = []connectors.Position{pos("b", "9"), pos("a", "9")}
	check()
}

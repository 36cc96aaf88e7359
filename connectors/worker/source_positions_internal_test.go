package worker

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/sluicehq/sluice/connectors"
)

func pos(partition string, offset int) connectors.Position {
	return connectors.Position{Partition: partition, Offset: json.RawMessage(fmt.Sprint(offset))}
}

func TestMergePositions(t *testing.T) {
	cases := []struct {
		name    string
		batches [][]connectors.Position
		want    []connectors.Position
	}{
		{"one batch", [][]connectors.Position{{pos("a", 1), pos("b", 2)}}, []connectors.Position{pos("a", 1), pos("b", 2)}},
		{"later wins, first order kept",
			[][]connectors.Position{{pos("a", 1), pos("b", 2)}, {pos("b", 5)}, {pos("c", 1), pos("a", 9)}},
			[]connectors.Position{pos("a", 9), pos("b", 5), pos("c", 1)}},
		{"batches without positions", [][]connectors.Position{nil, {pos("a", 3)}, nil}, []connectors.Position{pos("a", 3)}},
		{"none", [][]connectors.Position{nil, nil}, nil},
	}
	for _, c := range cases {
		var bs []*sourceBatch
		for _, ps := range c.batches {
			bs = append(bs, &sourceBatch{positions: ps})
		}
		got := mergePositions(bs)
		if fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("%s: merged %v, want %v", c.name, got, c.want)
		}
	}
}

func TestLatestPositions(t *testing.T) {
	recs := []connectors.Record{{Position: pos("a", 1)}, {}, {Position: pos("b", 1)}, {Position: pos("a", 2)}, {}}
	if got, want := fmt.Sprint(latestPositions(recs)), fmt.Sprint([]connectors.Position{pos("a", 2), pos("b", 1)}); got != want {
		t.Fatalf("latest positions %s, want %s", got, want)
	}
}

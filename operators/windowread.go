package operators

import "fmt"

// WindowRow is one window of a windowed aggregation's store.
type WindowRow[A any] struct {
	Start, End int64
	Value      A
}

// FetchWindows reads the windows of key whose start is in [from, to] from a
// windowed aggregation's store (the Table's StoreName), in store order, for
// tests and queries. Only windows still within the store's retention
// (window size plus grace, in stream time) are returned.
func FetchWindows[K, A any](tk *Task, store string, keySerde Serde[K], key K, from, to int64) ([]WindowRow[A], error) {
	ws, err := storeFrom[*timeStore[A]](tk, store)
	if err != nil {
		return nil, err
	}
	if ws.bounds == nil {
		return nil, fmt.Errorf("store %q is not a windowed aggregation's store", store)
	}
	kb, err := keySerde.Serialize(nil, key)
	if err != nil {
		return nil, fmt.Errorf("store %q: key: %w", store, err)
	}
	var rows []WindowRow[A]
	if ws.observed == NoTimestamp {
		return nil, nil
	}
	// Every window's stored time (start or end) is at most the stream
	// time the store has observed.
	err = ws.fetch(kb, 0, ws.observed, func(t, aux int64, v A) bool {
		start, end := ws.bounds(t, aux)
		if start >= from && start <= to {
			rows = append(rows, WindowRow[A]{Start: start, End: end, Value: v})
		}
		return true
	})
	return rows, err
}

package state_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"github.com/sluicehq/sluice/engine/state"
)

func stores(t *testing.T) map[string]func() state.KeyValueStore {
	return map[string]func() state.KeyValueStore{
		"memory": func() state.KeyValueStore { return state.NewMemory("m") },
		"pebble": func() state.KeyValueStore {
			p, err := state.OpenPebble("p", filepath.Join(t.TempDir(), "p"), state.PebbleOptions{})
			if err != nil {
				t.Fatal(err)
			}
			return p
		},
	}
}

func keys(t *testing.T, s state.KeyValueStore, start, end []byte) []string {
	t.Helper()
	var out []string
	if err := s.Range(start, end, func(k, v []byte) bool {
		out = append(out, fmt.Sprintf("%s=%s", k, v))
		return true
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestStoreConformance(t *testing.T) {
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			s := open()
			for _, k := range []string{"b", "a", "c", "d", "ab"} {
				if err := s.Put([]byte(k), []byte("v"+k)); err != nil {
					t.Fatal(err)
				}
			}
			if v, ok, err := s.Get([]byte("ab")); err != nil || !ok || string(v) != "vab" {
				t.Fatalf("get ab = %q %v %v", v, ok, err)
			}
			if _, ok, err := s.Get([]byte("zz")); err != nil || ok {
				t.Fatalf("get zz = %v %v", ok, err)
			}
			if err := s.Put([]byte("e"), nil); err != nil {
				t.Fatal(err)
			}
			if v, ok, _ := s.Get([]byte("e")); !ok || len(v) != 0 {
				t.Fatalf("empty value: %q %v", v, ok)
			}
			if got := keys(t, s, []byte("ab"), []byte("d")); !slices.Equal(got, []string{"ab=vab", "b=vb", "c=vc"}) {
				t.Fatalf("range = %v", got)
			}
			if err := s.Delete([]byte("b")); err != nil {
				t.Fatal(err)
			}
			if err := s.DeleteRange([]byte("c"), []byte("e")); err != nil {
				t.Fatal(err)
			}
			if got := keys(t, s, nil, nil); !slices.Equal(got, []string{"a=va", "ab=vab", "e="}) {
				t.Fatalf("after deletes = %v", got)
			}
			n := 0
			s.Range(nil, nil, func(_, _ []byte) bool { n++; return false })
			if n != 1 {
				t.Fatalf("early stop visited %d", n)
			}
			if err := s.Flush(); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if err := s.Put([]byte("x"), nil); !errors.Is(err, state.ErrClosed) {
				t.Fatalf("put after close: %v", err)
			}
		})
	}
}

func TestPebbleKeepsDataAcrossReopen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "p")
	p, err := state.OpenPebble("p", dir, state.PebbleOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p.Put([]byte("k"), []byte("v"))
	if err := p.Flush(); err != nil {
		t.Fatal(err)
	}
	p.Close()
	p, err = state.OpenPebble("p", dir, state.PebbleOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if v, ok, _ := p.Get([]byte("k")); !ok || string(v) != "v" {
		t.Fatalf("reopened: %q %v", v, ok)
	}
}

// Ranges see every write made before them, and ranges nest.
func TestStoreRangeSeesWrites(t *testing.T) {
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			s := open()
			defer s.Close()
			put := func(k string) {
				if err := s.Put([]byte(k), []byte("v")); err != nil {
					t.Fatal(err)
				}
			}
			put("a")
			put("c")
			if got := keys(t, s, []byte("a"), []byte("z")); !slices.Equal(got, []string{"a=v", "c=v"}) {
				t.Fatalf("range = %v", got)
			}
			put("b")
			if got := keys(t, s, []byte("a"), []byte("z")); !slices.Equal(got, []string{"a=v", "b=v", "c=v"}) {
				t.Fatalf("after put = %v", got)
			}
			if err := s.Delete([]byte("a")); err != nil {
				t.Fatal(err)
			}
			if got := keys(t, s, nil, []byte("c")); !slices.Equal(got, []string{"b=v"}) {
				t.Fatalf("after delete = %v", got)
			}
			// A range nested in another's callback.
			put("d")
			var nested []string
			if err := s.Range([]byte("b"), nil, func(k, _ []byte) bool {
				if string(k) == "b" {
					nested = keys(t, s, []byte("c"), nil)
				}
				return true
			}); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(nested, []string{"c=v", "d=v"}) {
				t.Fatalf("nested range = %v", nested)
			}
			if err := s.DeleteRange([]byte("c"), []byte("d")); err != nil {
				t.Fatal(err)
			}
			if got := keys(t, s, nil, nil); !slices.Equal(got, []string{"b=v", "d=v"}) {
				t.Fatalf("after delete range = %v", got)
			}
		})
	}
}

package operators

import (
	"errors"
	"fmt"
	"sort"
)

// ErrTopology wraps every error Build returns for a graph that cannot run.
var ErrTopology = errors.New("invalid topology")

// Builder accumulates a topology. Its methods and the DSL functions never do
// I/O and never panic on a bad graph: the first problems are remembered and
// returned by Build.
type Builder struct {
	nodes  []*node
	stores map[string]*storeEntry
	topics map[string]*node // source topic -> source node
	names  map[string]bool
	errs   []error
	seq    int
	// copartition groups: sets of source nodes whose topics must have the
	// same number of partitions because their records are joined.
	copart [][]*node
}

// NewBuilder returns an empty topology builder.
func NewBuilder() *Builder {
	return &Builder{stores: map[string]*storeEntry{}, topics: map[string]*node{}, names: map[string]bool{}}
}

func (b *Builder) errorf(format string, args ...any) {
	b.errs = append(b.errs, fmt.Errorf("%w: "+format, append([]any{ErrTopology}, args...)...))
}

type nodeKind int

const (
	kindSource nodeKind = iota
	kindProcessor
	kindSink
)

// node is one vertex of the topology graph. The typed behaviour lives in the
// build closure, made by the generic DSL function that created the node; the
// graph itself is untyped so it can be split, described and validated.
type node struct {
	id       int
	name     string
	kind     nodeKind
	parents  []*node
	children []*node
	stores   []string

	topic    string // source or sink topic (name as given; internal topics get the app-id prefix)
	internal bool   // topic is an internal repartition topic
	// partitions is the partition count asked for an internal topic (0 = as many as the upstream sources).
	partitions int

	// build makes this node's runtime for one task: it returns a
	// receiver[K,V] of the node's input type (nil for sources, whose
	// receiver is a sourceFunc). Children are built first.
	build func(tk *Task) (any, error)
}

func (b *Builder) newNode(prefix, name string, kind nodeKind, parents ...*node) *node {
	id := b.seq
	b.seq++
	if name == "" {
		name = fmt.Sprintf("%s-%010d", prefix, id)
	}
	if b.names[name] {
		b.errorf("duplicate processor name %q", name)
	}
	b.names[name] = true
	n := &node{id: id, name: name, kind: kind}
	for _, p := range parents {
		if p == nil {
			continue
		}
		n.parents = append(n.parents, p)
		p.children = append(p.children, n)
	}
	b.nodes = append(b.nodes, n)
	return n
}

// storeEntry is a store registered with the builder and the nodes using it.
type storeEntry struct {
	def   StoreDef
	nodes []*node
}

// AddStore registers a store so processors can be connected to it by name.
// The DSL adds the stores it needs itself; call AddStore for stores used by
// Process. A store name must be unique.
func (b *Builder) AddStore(def StoreDef) {
	if def == nil {
		b.errorf("AddStore: nil store")
		return
	}
	name := def.Name()
	if name == "" {
		b.errorf("AddStore: store with empty name")
		return
	}
	if _, dup := b.stores[name]; dup {
		b.errorf("duplicate store name %q", name)
		return
	}
	b.stores[name] = &storeEntry{def: def}
}

func (b *Builder) connectStore(n *node, name string) {
	e, ok := b.stores[name]
	if !ok {
		b.errorf("processor %q uses store %q, which was never added (Builder.AddStore)", n.name, name)
		return
	}
	e.nodes = append(e.nodes, n)
	n.stores = append(n.stores, name)
}

// Build validates the graph and returns the topology.
func (b *Builder) Build() (*Topology, error) {
	if len(b.errs) > 0 {
		return nil, errors.Join(b.errs...)
	}
	if len(b.nodes) == 0 {
		return nil, fmt.Errorf("%w: no sources: add a stream or table", ErrTopology)
	}
	var errs []error
	for name, e := range b.stores {
		if len(e.nodes) == 0 {
			errs = append(errs, fmt.Errorf("%w: store %q is not connected to any processor", ErrTopology, name))
		}
	}
	for _, n := range b.nodes {
		if n.kind != kindSource && len(n.parents) == 0 {
			errs = append(errs, fmt.Errorf("%w: processor %q has no input", ErrTopology, n.name))
		}
	}
	if len(errs) > 0 {
		sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
		return nil, errors.Join(errs...)
	}
	return newTopology(b)
}

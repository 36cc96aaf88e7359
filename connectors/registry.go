package connectors

import (
	"fmt"
	"sort"
	"sync"
)

// Kind says which way a plugin moves data.
type Kind string

const (
	KindSource Kind = "source" // from an external system into topics
	KindSink   Kind = "sink"   // from topics to an external system
)

// Plugin describes a connector implementation. Name is what users put in
// connector.class.
type Plugin struct {
	Name    string
	Kind    Kind
	Version string
	// Doc is a one-paragraph description for `GET /connector-plugins` and
	// generated docs.
	Doc  string
	Spec ConfigSpec
	// NewSource (for KindSource) or NewSink (for KindSink) makes one task.
	NewSource func() Source
	NewSink   func() Sink
}

var (
	regMu    sync.RWMutex
	registry = map[string]Plugin{}
)

// Register makes a plugin available to workers by name. It is meant for init
// functions and panics on a programming mistake (empty or duplicate name,
// missing constructor, malformed spec), as database/sql.Register does.
func Register(p Plugin) {
	if err := p.check(); err != nil {
		panic("connectors.Register: " + err.Error())
	}
	regMu.Lock()
	defer regMu.Unlock()
	if _, dup := registry[p.Name]; dup {
		panic(fmt.Sprintf("connectors.Register: plugin %q registered twice", p.Name))
	}
	registry[p.Name] = p
}

func (p Plugin) check() error {
	if p.Name == "" {
		return fmt.Errorf("plugin with empty name")
	}
	switch p.Kind {
	case KindSource:
		if p.NewSource == nil {
			return fmt.Errorf("source plugin %q has no NewSource", p.Name)
		}
	case KindSink:
		if p.NewSink == nil {
			return fmt.Errorf("sink plugin %q has no NewSink", p.Name)
		}
	default:
		return fmt.Errorf("plugin %q: kind %q is neither source nor sink", p.Name, p.Kind)
	}
	if err := p.Spec.check(); err != nil {
		return fmt.Errorf("plugin %q: %w", p.Name, err)
	}
	return nil
}

// Lookup returns the plugin registered under name; the error wraps
// ErrUnknownPlugin.
func Lookup(name string) (Plugin, error) {
	regMu.RLock()
	defer regMu.RUnlock()
	p, ok := registry[name]
	if !ok {
		return Plugin{}, fmt.Errorf("%w: %q", ErrUnknownPlugin, name)
	}
	return p, nil
}

// Plugins returns every registered plugin sorted by name.
func Plugins() []Plugin {
	regMu.RLock()
	defer regMu.RUnlock()
	out := make([]Plugin, 0, len(registry))
	for _, p := range registry {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

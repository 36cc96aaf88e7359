package pipelines

import (
	"fmt"
	"sort"
	"strings"

	"github.com/sluicehq/sluice/connectors"
)

// SDKCatalog is the ConnectorCatalog backed by the plugins registered with
// the connectors SDK: a plugin's declared ConfigSpec validates the options
// a pipeline gives it, and keys outside the spec are flagged (the pipeline
// sets the worker's own keys, such as topics, itself).
type SDKCatalog struct {
	// Extra lists keys accepted for every plugin besides its spec (worker
	// keys users may set, like tasks.max or errors.tolerance).
	Extra []string
}

func init() {
	DefaultCatalog = SDKCatalog{Extra: []string{"tasks.max", "errors.tolerance", "errors.retry.timeout", "errors.retry.delay.max.ms",
		"errors.log.enable", "errors.log.include.messages", "errors.deadletterqueue.topic.name",
		"errors.deadletterqueue.context.headers.enable", "consumer.override.max.poll.records",
		"consumer.override.auto.offset.reset", "topic.creation.default.partitions"}}
}

// Plugins implements ConnectorCatalog.
func (c SDKCatalog) Plugins(kind string) []string {
	var out []string
	for _, p := range connectors.Plugins() {
		if string(p.Kind) == kind {
			out = append(out, strings.TrimSuffix(p.Name, "-"+kind))
		}
	}
	return out
}

// Resolve finds the plugin a pipeline names: its exact name, or the name
// with the kind appended ("parquet" for "parquet-sink" in a sink).
func (c SDKCatalog) Resolve(kind, plugin string) (connectors.Plugin, bool) {
	for _, name := range []string{plugin, plugin + "-" + kind} {
		if p, err := connectors.Lookup(name); err == nil && string(p.Kind) == kind {
			return p, true
		}
	}
	return connectors.Plugin{}, false
}

// Validate implements ConnectorCatalog.
func (c SDKCatalog) Validate(kind, plugin string, config map[string]string) ([]ConfigProblem, bool) {
	p, ok := c.Resolve(kind, plugin)
	if !ok {
		return nil, false
	}
	var out []ConfigProblem
	valid := append([]string(nil), c.Extra...)
	for _, f := range p.Spec {
		valid = append(valid, f.Name)
	}
	keys := make([]string, 0, len(config))
	for k := range config {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		switch k {
		case "name", "connector.class", "topic", "topics", "topics.regex":
			out = append(out, ConfigProblem{Key: k, Msg: fmt.Sprintf("option %q is set by the pipeline", k),
				Hint: "remove it; give the source or sink a topic: field to choose the topic"})
			continue
		}
		if _, ok := p.Spec.Field(k); !ok && !contains(c.Extra, k) {
			out = append(out, ConfigProblem{Key: k, Msg: fmt.Sprintf("unknown option %q", k), Hint: suggest(k, valid, "option")})
		}
	}
	for _, fe := range p.Spec.Validate(config) {
		f, _ := p.Spec.Field(fe.Field)
		msg := fmt.Sprintf("option %q: %s", fe.Field, fe.Message)
		hint := f.Doc
		if fe.Message == "required" {
			msg = fmt.Sprintf("missing required option %q", fe.Field)
		}
		out = append(out, ConfigProblem{Key: fe.Field, Msg: msg, Hint: hint})
	}
	return out, true
}

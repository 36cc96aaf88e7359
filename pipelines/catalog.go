package pipelines

// ConnectorCatalog is what the checker needs to know about connector
// plugins: which exist, and whether a config is valid for one. The
// production catalog is backed by the connectors SDK's registry and each
// plugin's declared ConfigSpec; tests can supply their own.
type ConnectorCatalog interface {
	// Plugins lists the plugin names of a kind ("source" or "sink").
	Plugins(kind string) []string
	// Validate checks a config against the plugin's spec. known is false
	// when no plugin of that kind and name exists.
	Validate(kind, plugin string, config map[string]string) (problems []ConfigProblem, known bool)
}

// ConfigProblem is one thing wrong with a connector config. Key is the
// option it concerns ("" for the config as a whole).
type ConfigProblem struct {
	Key  string
	Msg  string
	Hint string
}

// DefaultCatalog is used when Options.Connectors is nil. It is set by the
// bridge to the connectors SDK; nil disables connector checks.
var DefaultCatalog ConnectorCatalog

func (o *Options) catalog() ConnectorCatalog {
	if o != nil && o.Connectors != nil {
		return o.Connectors
	}
	return DefaultCatalog
}

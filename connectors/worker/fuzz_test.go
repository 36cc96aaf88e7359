package worker

import (
	"encoding/json"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/connectors"
	_ "github.com/sluicehq/sluice/connectors/file"
)

// FuzzConnectorConfig feeds arbitrary REST bodies through the config
// decoding and validation a POST /connectors or validate call does: errors
// are fine, panics are not, and a config that validates must parse.
func FuzzConnectorConfig(f *testing.F) {
	f.Add([]byte(`{"connector.class":"file-sink","topics":"a,b","file":"/tmp/x","tasks.max":2}`))
	f.Add([]byte(`{"connector.class":"file-source","file":"/tmp/*.csv","format":"csv","csv.schema":"id int64, at timestamp[us, UTC]"}`))
	f.Add([]byte(`{"connector.class":"file-sink","topics.regex":"(","errors.tolerance":"all"}`))
	f.Add([]byte(`{"name":null,"x":{"nested":1}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var raw map[string]json.RawMessage
		if json.Unmarshal(body, &raw) != nil {
			return
		}
		cfg, err := configMap(raw)
		if err != nil {
			return
		}
		for _, plugin := range []string{"file-sink", "file-source"} {
			if _, err := Validate(plugin, cfg); err != nil {
				continue
			}
		}
		cfg[KeyName] = "fuzz"
		p, errs := validateConfig(cfg)
		if len(errs) == 0 {
			if _, err := fullSpec(p).Parse(cfg); err != nil {
				t.Fatalf("validated config does not parse: %v", err)
			}
		}
	})
}

// FuzzRecordHeaders: a consumed record with arbitrary schema-header bytes
// converts without panicking and without losing the header when it does
// not decode.
func FuzzRecordHeaders(f *testing.F) {
	f.Add([]byte(`{"fields":[{"name":"a","type":"int64"}]}`))
	f.Add([]byte(`{"fields":[{"name":"a","type":"list<"}]}`))
	f.Add([]byte{0xff, 0})
	cache := newSchemaCache()
	f.Fuzz(func(t *testing.T, h []byte) {
		r := &kgo.Record{Topic: "t", Value: []byte(`{}`), Headers: []kgo.RecordHeader{{Key: connectors.SchemaHeader, Value: h}}}
		rec := fromKgo(r, cache)
		if rec.Schema == nil && len(rec.Headers) != 1 {
			t.Fatalf("undecodable schema header dropped")
		}
	})
}

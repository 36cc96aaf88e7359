package worker

import (
	"regexp"
	"strings"
	"sync"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/connectors/schema"
)

// schemaCache remembers decoded (and encoded) schemas by their wire bytes,
// since a topic usually carries the same schema on every record.
type schemaCache struct {
	mu      sync.Mutex
	decoded map[string]*arrow.Schema
	encoded map[*arrow.Schema][]byte
}

// maxCachedSchemas bounds the cache; it is reset when full.
const maxCachedSchemas = 1024

func newSchemaCache() *schemaCache {
	return &schemaCache{decoded: map[string]*arrow.Schema{}, encoded: map[*arrow.Schema][]byte{}}
}

// decode returns the schema in a header value, or nil when it does not
// decode (the record then travels schemaless rather than being lost).
func (c *schemaCache) decode(b []byte) (*arrow.Schema, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.decoded[string(b)]; ok {
		return s, nil
	}
	s, err := schema.UnmarshalSchema(b)
	if err != nil {
		return nil, err
	}
	if len(c.decoded) >= maxCachedSchemas {
		clear(c.decoded)
	}
	c.decoded[string(b)] = s
	return s, nil
}

func (c *schemaCache) encode(s *arrow.Schema) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if b, ok := c.encoded[s]; ok {
		return b, nil
	}
	b, err := schema.MarshalSchema(s)
	if err != nil {
		return nil, err
	}
	if len(c.encoded) >= maxCachedSchemas {
		clear(c.encoded)
	}
	c.encoded[s] = b
	return b, nil
}

// fromKgo converts a consumed record for a sink. A schema header that does
// not decode is left in the headers and Schema stays nil.
func fromKgo(r *kgo.Record, cache *schemaCache) connectors.Record {
	var rec connectors.Record
	fillFromKgo(&rec, r, cache)
	return rec
}

// fillFromKgo is fromKgo writing into rec, overwriting all of it.
func fillFromKgo(rec *connectors.Record, r *kgo.Record, cache *schemaCache) {
	*rec = connectors.Record{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset,
		Key: r.Key, Value: r.Value, Timestamp: r.Timestamp}
	if len(r.Headers) > 0 {
		rec.Headers = make([]connectors.Header, 0, len(r.Headers))
		for _, h := range r.Headers {
			if h.Key == connectors.SchemaHeader {
				if s, err := cache.decode(h.Value); err == nil {
					rec.Schema = s
					continue
				}
			}
			rec.Headers = append(rec.Headers, connectors.Header{Key: h.Key, Value: h.Value})
		}
	}
}

// toKgo fills kr, a record to produce, from a source record.
func toKgo(kr *kgo.Record, r *connectors.Record, defaultTopic string, cache *schemaCache) error {
	*kr = kgo.Record{Topic: r.Topic, Key: r.Key, Value: r.Value, Timestamp: r.Timestamp}
	if kr.Topic == "" {
		kr.Topic = defaultTopic
	}
	if len(r.Headers) > 0 || r.Schema != nil {
		kr.Headers = make([]kgo.RecordHeader, 0, len(r.Headers)+1)
		for _, h := range r.Headers {
			kr.Headers = append(kr.Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
		}
		if r.Schema != nil {
			b, err := cache.encode(r.Schema)
			if err != nil {
				return err
			}
			kr.Headers = append(kr.Headers, kgo.RecordHeader{Key: connectors.SchemaHeader, Value: b})
		}
	}
	return nil
}

func splitNonEmpty(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func compileRegex(s string) (*regexp.Regexp, error) { return regexp.Compile(s) }

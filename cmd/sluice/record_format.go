package main

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"
)

// jsonRecord is one line of `sluice consume --format json`. Keys, values
// and header values that are valid UTF-8 are printed as strings; anything
// else goes into the *_base64 twin so that no byte is lost or mangled.
type jsonRecord struct {
	Topic       string       `json:"topic"`
	Partition   int32        `json:"partition"`
	Offset      int64        `json:"offset"`
	Timestamp   int64        `json:"timestamp"` // Unix milliseconds
	Key         *string      `json:"key"`
	KeyBase64   string       `json:"key_base64,omitempty"`
	Value       *string      `json:"value"`
	ValueBase64 string       `json:"value_base64,omitempty"`
	Headers     []jsonHeader `json:"headers,omitempty"`
}

type jsonHeader struct {
	Key         string  `json:"key"`
	Value       *string `json:"value"`
	ValueBase64 string  `json:"value_base64,omitempty"`
}

// bytesField fills a string field and its base64 twin from b. nil stays
// null (Kafka distinguishes a null key or value from an empty one).
func bytesField(b []byte) (*string, string) {
	if b == nil {
		return nil, ""
	}
	if utf8.Valid(b) {
		s := string(b)
		return &s, ""
	}
	return nil, base64.StdEncoding.EncodeToString(b)
}

func toJSONRecord(r *kgo.Record) jsonRecord {
	j := jsonRecord{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp.UnixMilli()}
	j.Key, j.KeyBase64 = bytesField(r.Key)
	j.Value, j.ValueBase64 = bytesField(r.Value)
	for _, h := range r.Headers {
		jh := jsonHeader{Key: h.Key}
		jh.Value, jh.ValueBase64 = bytesField(h.Value)
		j.Headers = append(j.Headers, jh)
	}
	return j
}

// writeRecord prints one record in the chosen format, ending with a newline.
func writeRecord(w *bufio.Writer, r *kgo.Record, o *consumeOptions) error {
	if o.format == "json" {
		b, err := json.Marshal(toJSONRecord(r))
		if err != nil {
			return err
		}
		w.Write(b)
		return w.WriteByte('\n')
	}
	if o.printKey {
		w.Write(r.Key)
		w.WriteString(o.keySep)
	}
	w.Write(r.Value)
	return w.WriteByte('\n')
}

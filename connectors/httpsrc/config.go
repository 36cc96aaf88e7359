package httpsrc

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/sluicehq/sluice/connectors"
)

// Config keys.
const (
	KeyTopic          = "topic"
	KeyListen         = "http.listen"
	KeyPath           = "http.path"
	KeyToken          = "http.auth.token"
	KeyMaxBodyBytes   = "http.max.body.bytes"
	KeyMaxRecords     = "http.max.records"
	KeyDefaultFormat  = "http.default.format"
	KeyKeyField       = "key.field"
	KeyKeyHeader      = "key.header"
	KeyForwardHeaders = "headers.forward"
	KeyMaxQueued      = "max.queued.records"
	KeyAckTimeout     = "ack.timeout"
	KeyStallTimeout   = "stall.timeout"
	KeyBatchSize      = "batch.size"
	KeyPollWait       = "poll.wait"
)

// Spec declares the HTTP source's configuration.
var Spec = connectors.ConfigSpec{
	{Name: KeyTopic, Type: connectors.TypeString, Required: true, Group: "Mapping", Doc: "Kafka topic the records go to."},
	{Name: KeyListen, Type: connectors.TypeString, Default: "127.0.0.1:8088", Validate: validAddr, Group: "Server",
		Doc: "Address the HTTP server listens on (host:port)."},
	{Name: KeyPath, Type: connectors.TypeString, Default: "/ingest", Validate: validPath, Group: "Server",
		Doc: "Path that accepts POSTs."},
	{Name: KeyToken, Type: connectors.TypePassword, Group: "Server",
		Doc: "Bearer token clients must send (Authorization: Bearer <token>). Empty disables authentication."},
	{Name: KeyMaxBodyBytes, Type: connectors.TypeInt, Default: "10485760", Validate: connectors.AtLeast(1), Group: "Limits",
		Doc: "Largest request body; larger bodies get 413 and nothing is written."},
	{Name: KeyMaxRecords, Type: connectors.TypeInt, Default: "10000", Validate: connectors.AtLeast(1), Group: "Limits",
		Doc: "Most records in one request."},
	{Name: KeyDefaultFormat, Type: connectors.TypeEnum, Default: FormatJSON, Enum: []string{FormatJSON, FormatNDJSON}, Group: "Server",
		Doc: "Body format when the Content-Type says neither (application/json, application/x-ndjson)."},
	{Name: KeyKeyField, Type: connectors.TypeString, Group: "Mapping",
		Doc: "Top-level field of each JSON object whose value (string or number) is the record key."},
	{Name: KeyKeyHeader, Type: connectors.TypeString, Group: "Mapping",
		Doc: "Request header whose value is the key of every record of the request (when key.field is not set)."},
	{Name: KeyForwardHeaders, Type: connectors.TypeList, Group: "Mapping",
		Doc: "Request headers copied into every record's headers (e.g. X-Request-Id, Idempotency-Key)."},
	{Name: KeyMaxQueued, Type: connectors.TypeInt, Default: "100000", Validate: connectors.AtLeast(1), Group: "Limits",
		Doc: "Records accepted but not yet handed to the worker; beyond this requests get 503."},
	{Name: KeyAckTimeout, Type: connectors.TypeDuration, Default: "30s", Validate: connectors.Positive, Group: "Limits",
		Doc: "How long a request waits for its records to be in the log before the server answers 503 (not written) or 504 (outcome unknown)."},
	{Name: KeyStallTimeout, Type: connectors.TypeDuration, Default: "5s", Validate: connectors.Positive, Group: "Limits",
		Doc: "When the worker has not polled for this long (paused or backed up), requests get 503 at once."},
	{Name: KeyBatchSize, Type: connectors.TypeInt, Default: "5000", Validate: connectors.AtLeast(1), Group: "Limits",
		Doc: "Records handed to the worker per poll (whole requests; a larger request goes alone)."},
	{Name: KeyPollWait, Type: connectors.TypeDuration, Default: "500ms", Validate: connectors.Positive, Group: "Limits",
		Doc: "How long a poll waits for a first request."},
}

func validAddr(v any) error {
	if _, _, err := net.SplitHostPort(v.(string)); err != nil {
		return fmt.Errorf("not host:port: %v", err)
	}
	return nil
}

func validPath(v any) error {
	if !strings.HasPrefix(v.(string), "/") {
		return errors.New("must start with /")
	}
	return nil
}

type config struct {
	topic          string
	listen         string
	path           string
	token          []byte
	maxBodyBytes   int64
	limits         bodyLimits
	defaultFormat  string
	keyHeader      string
	forwardHeaders []string
	maxQueued      int
	ackTimeout     time.Duration
	stallTimeout   time.Duration
	batchSize      int
	pollWait       time.Duration
}

func parseConfig(c connectors.Config) *config {
	return &config{
		topic:          c.String(KeyTopic),
		listen:         c.String(KeyListen),
		path:           c.String(KeyPath),
		token:          []byte(c.String(KeyToken)),
		maxBodyBytes:   c.Int(KeyMaxBodyBytes),
		limits:         bodyLimits{maxRecords: int(c.Int(KeyMaxRecords)), keyField: c.String(KeyKeyField)},
		defaultFormat:  c.String(KeyDefaultFormat),
		keyHeader:      c.String(KeyKeyHeader),
		forwardHeaders: c.List(KeyForwardHeaders),
		maxQueued:      int(c.Int(KeyMaxQueued)),
		ackTimeout:     c.Duration(KeyAckTimeout),
		stallTimeout:   c.Duration(KeyStallTimeout),
		batchSize:      int(c.Int(KeyBatchSize)),
		pollWait:       c.Duration(KeyPollWait),
	}
}

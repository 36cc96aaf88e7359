package mqtt

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/sluicehq/sluice/connectors"
)

// Config keys.
const (
	KeyBrokers        = "mqtt.brokers"
	KeyTopics         = "mqtt.topics"
	KeyQoS            = "mqtt.qos"
	KeyClientID       = "mqtt.client.id"
	KeyCleanSession   = "mqtt.clean.session"
	KeyUsername       = "mqtt.username"
	KeyPassword       = "mqtt.password"
	KeyKeepAlive      = "mqtt.keepalive"
	KeyConnectTimeout = "mqtt.connect.timeout"
	KeyMaxReconnect   = "mqtt.max.reconnect.interval"
	KeyKafkaTopic     = "kafka.topic"
	KeyRecordKey      = "record.key"
	KeyMaxPending     = "max.pending"
	KeyBatchSize      = "batch.size"
	KeyPollWait       = "poll.wait"
	KeyTLSCAFile      = "mqtt.tls.ca.file"
	KeyTLSCertFile    = "mqtt.tls.cert.file"
	KeyTLSKeyFile     = "mqtt.tls.key.file"
)

// Spec declares the MQTT source's configuration.
var Spec = connectors.ConfigSpec{
	{Name: KeyBrokers, Type: connectors.TypeList, Required: true, Group: "Connection",
		Doc: "MQTT broker URLs (tcp://host:1883, ssl://host:8883, ws://...); tried in order."},
	{Name: KeyTopics, Type: connectors.TypeList, Required: true, Group: "Connection",
		Doc: "Topic filters to subscribe to (+ and # wildcards allowed)."},
	{Name: KeyQoS, Type: connectors.TypeInt, Default: "1", Validate: connectors.Between(0, 2), Group: "Connection",
		Doc: "Subscription QoS. 1 (at least once) is the default; 0 can lose messages."},
	{Name: KeyClientID, Type: connectors.TypeString, Group: "Connection",
		Doc: "MQTT client id; the persistent session is keyed by it. Default: sluice-<connector>-<task>."},
	{Name: KeyCleanSession, Type: connectors.TypeBool, Default: "false", Group: "Connection",
		Doc: "Start a clean session on connect. false keeps the session, so messages published while the connector is down are delivered after restart."},
	{Name: KeyUsername, Type: connectors.TypeString, Group: "Connection", Doc: "Username."},
	{Name: KeyPassword, Type: connectors.TypePassword, Group: "Connection", Doc: "Password."},
	{Name: KeyKeepAlive, Type: connectors.TypeDuration, Default: "30s", Validate: connectors.Positive, Group: "Connection",
		Doc: "Keep-alive interval."},
	{Name: KeyConnectTimeout, Type: connectors.TypeDuration, Default: "10s", Validate: connectors.Positive, Group: "Connection",
		Doc: "Timeout of a connection attempt and of a subscribe."},
	{Name: KeyMaxReconnect, Type: connectors.TypeDuration, Default: "30s", Validate: connectors.Positive, Group: "Connection",
		Doc: "Longest wait between reconnection attempts."},
	{Name: KeyTLSCAFile, Type: connectors.TypeString, Group: "Security",
		Doc: "PEM file of the CA(s) that sign the broker's certificate, for ssl:// brokers; empty: the system roots."},
	{Name: KeyTLSCertFile, Type: connectors.TypeString, Group: "Security",
		Doc: "PEM client certificate for mutual TLS (AWS IoT Core, Azure IoT Hub); needs mqtt.tls.key.file."},
	{Name: KeyTLSKeyFile, Type: connectors.TypeString, Group: "Security",
		Doc: "PEM private key of mqtt.tls.cert.file."},
	{Name: KeyKafkaTopic, Type: connectors.TypeString, Required: true, Validate: validTemplate, Group: "Mapping",
		Doc: "Kafka topic, a template: {mqtt.topic} is the MQTT topic, {mqtt.topic.N} its N-th level from 0. '/' becomes '.', other illegal characters '_'."},
	{Name: KeyRecordKey, Type: connectors.TypeString, Default: "{mqtt.topic}", Validate: validTemplate, Group: "Mapping",
		Doc: "Record key template (same placeholders). Set to \"none\" for records without a key."},
	{Name: KeyMaxPending, Type: connectors.TypeInt, Default: "10000", Validate: connectors.AtLeast(1), Group: "Limits",
		Doc: "Messages received but not yet polled; beyond this the MQTT broker keeps them."},
	{Name: KeyBatchSize, Type: connectors.TypeInt, Default: "1000", Validate: connectors.AtLeast(1), Group: "Limits",
		Doc: "Most records returned by one poll."},
	{Name: KeyPollWait, Type: connectors.TypeDuration, Default: "500ms", Validate: connectors.Positive, Group: "Limits",
		Doc: "How long a poll waits for a first message."},
}

func validTemplate(v any) error {
	s, _ := v.(string)
	_, err := parseTemplate(s)
	return err
}

type config struct {
	brokers        []string
	filters        []string
	qos            byte
	clientID       string
	cleanSession   bool
	username       string
	password       string
	keepAlive      time.Duration
	connectTimeout time.Duration
	maxReconnect   time.Duration
	topic          *template
	key            *template // nil: no key
	maxPending     int
	batchSize      int
	pollWait       time.Duration
	tls            *tls.Config // nil: paho's default for ssl:// brokers
}

func parseConfig(c connectors.Config, task connectors.TaskInfo) (*config, error) {
	cfg := &config{
		brokers:        c.List(KeyBrokers),
		filters:        c.List(KeyTopics),
		qos:            byte(c.Int(KeyQoS)),
		clientID:       c.String(KeyClientID),
		cleanSession:   c.Bool(KeyCleanSession),
		username:       c.String(KeyUsername),
		password:       c.String(KeyPassword),
		keepAlive:      c.Duration(KeyKeepAlive),
		connectTimeout: c.Duration(KeyConnectTimeout),
		maxReconnect:   c.Duration(KeyMaxReconnect),
		maxPending:     int(c.Int(KeyMaxPending)),
		batchSize:      int(c.Int(KeyBatchSize)),
		pollWait:       c.Duration(KeyPollWait),
	}
	tc, err := tlsConfig(c.String(KeyTLSCAFile), c.String(KeyTLSCertFile), c.String(KeyTLSKeyFile))
	if err != nil {
		return nil, err
	}
	cfg.tls = tc
	if cfg.clientID == "" {
		cfg.clientID = fmt.Sprintf("sluice-%s-%d", task.Connector, task.Task)
	}
	if cfg.topic, err = parseTemplate(c.String(KeyKafkaTopic)); err != nil {
		return nil, fmt.Errorf("%s: %w", KeyKafkaTopic, err)
	}
	if k := c.String(KeyRecordKey); k != "" && !strings.EqualFold(k, "none") {
		if cfg.key, err = parseTemplate(k); err != nil {
			return nil, fmt.Errorf("%s: %w", KeyRecordKey, err)
		}
	}
	return cfg, nil
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// tlsConfig loads the CA and client certificate files; nil when none is set.
func tlsConfig(caFile, certFile, keyFile string) (*tls.Config, error) {
	if caFile == "" && certFile == "" && keyFile == "" {
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", KeyTLSCAFile, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s: no PEM certificate in %s", KeyTLSCAFile, caFile)
		}
		tc.RootCAs = pool
	}
	if (certFile == "") != (keyFile == "") {
		return nil, fmt.Errorf("%s and %s go together", KeyTLSCertFile, KeyTLSKeyFile)
	}
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("%s/%s: %w", KeyTLSCertFile, KeyTLSKeyFile, err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

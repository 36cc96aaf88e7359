package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// defaultBrokers is where the client commands look for a broker when neither
// --brokers nor $SLUICE_BROKERS says otherwise: a local `sluice serve`.
const defaultBrokers = "127.0.0.1:9092"

// brokersEnv overrides defaultBrokers, comma-separated, like --brokers.
const brokersEnv = "SLUICE_BROKERS"

// clientOptions are the connection flags shared by every command that talks
// to a Kafka-protocol cluster (topic, produce, consume, group, bench). They
// hold nothing Sluice-specific: the same flags work against Apache Kafka,
// Redpanda or MSK.
type clientOptions struct {
	brokers string
	timeout time.Duration

	tls           bool
	tlsCA         string
	tlsCert       string
	tlsKey        string
	tlsServerName string
	tlsInsecure   bool

	saslMechanism string
	saslUser      string
	saslPassword  string
}

// addClientFlags registers the connection flags on cmd (persistent, so
// subcommands inherit them).
func addClientFlags(cmd *cobra.Command, o *clientOptions) {
	f := cmd.PersistentFlags()
	def := os.Getenv(brokersEnv)
	if def == "" {
		def = defaultBrokers
	}
	f.StringVar(&o.brokers, "brokers", def, "comma-separated bootstrap brokers (env "+brokersEnv+")")
	f.DurationVar(&o.timeout, "timeout", 10*time.Second, "how long to wait for the cluster before giving up")
	f.BoolVar(&o.tls, "tls", false, "connect with TLS")
	f.StringVar(&o.tlsCA, "tls-ca", "", "PEM file of CA certificates to trust (implies --tls)")
	f.StringVar(&o.tlsCert, "tls-cert", "", "PEM client certificate for mutual TLS (implies --tls)")
	f.StringVar(&o.tlsKey, "tls-key", "", "PEM private key of --tls-cert")
	f.StringVar(&o.tlsServerName, "tls-server-name", "", "server name to verify instead of the broker host")
	f.BoolVar(&o.tlsInsecure, "tls-insecure-skip-verify", false, "do not verify the broker certificate (testing only)")
	f.StringVar(&o.saslMechanism, "sasl-mechanism", "", "SASL mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512")
	f.StringVar(&o.saslUser, "sasl-user", "", "SASL user name")
	f.StringVar(&o.saslPassword, "sasl-password", "", "SASL password (env SLUICE_SASL_PASSWORD)")
}

// seeds returns the bootstrap broker list, trimmed and validated.
func (o *clientOptions) seeds() ([]string, error) {
	var out []string
	for _, s := range strings.Split(o.brokers, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no brokers given: set --brokers or " + brokersEnv)
	}
	return out, nil
}

// kgoOpts turns the flags into franz-go options; extra options are appended.
func (o *clientOptions) kgoOpts(extra ...kgo.Opt) ([]kgo.Opt, error) {
	seeds, err := o.seeds()
	if err != nil {
		return nil, err
	}
	dial := o.timeout
	if dial <= 0 || dial > 10*time.Second {
		dial = 10 * time.Second
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(seeds...),
		kgo.ClientID("sluice-cli"),
		kgo.DialTimeout(dial),
	}
	if o.timeout > 0 {
		// Bound retries so an unreachable or broken cluster fails the
		// command instead of hanging it.
		opts = append(opts, kgo.RetryTimeout(o.timeout))
	}
	tlsCfg, err := o.tlsConfig()
	if err != nil {
		return nil, err
	}
	if tlsCfg != nil {
		opts = append(opts, kgo.DialTLSConfig(tlsCfg))
	}
	mech, err := o.sasl()
	if err != nil {
		return nil, err
	}
	if mech != nil {
		opts = append(opts, kgo.SASL(mech))
	}
	return append(opts, extra...), nil
}

func (o *clientOptions) tlsConfig() (*tls.Config, error) {
	if !o.tls && o.tlsCA == "" && o.tlsCert == "" && !o.tlsInsecure {
		return nil, nil
	}
	cfg := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         o.tlsServerName,
		InsecureSkipVerify: o.tlsInsecure, //nolint:gosec // explicit opt-in flag
	}
	if o.tlsCA != "" {
		pem, err := os.ReadFile(o.tlsCA)
		if err != nil {
			return nil, fmt.Errorf("--tls-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--tls-ca %s: no PEM certificates found", o.tlsCA)
		}
		cfg.RootCAs = pool
	}
	if (o.tlsCert == "") != (o.tlsKey == "") {
		return nil, errors.New("--tls-cert and --tls-key must be given together")
	}
	if o.tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(o.tlsCert, o.tlsKey)
		if err != nil {
			return nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

func (o *clientOptions) sasl() (sasl.Mechanism, error) {
	if o.saslMechanism == "" {
		return nil, nil
	}
	pass := o.saslPassword
	if pass == "" {
		pass = os.Getenv("SLUICE_SASL_PASSWORD")
	}
	switch strings.ToUpper(o.saslMechanism) {
	case "PLAIN":
		return plain.Auth{User: o.saslUser, Pass: pass}.AsMechanism(), nil
	case "SCRAM-SHA-256":
		return scram.Auth{User: o.saslUser, Pass: pass}.AsSha256Mechanism(), nil
	case "SCRAM-SHA-512":
		return scram.Auth{User: o.saslUser, Pass: pass}.AsSha512Mechanism(), nil
	default:
		return nil, fmt.Errorf("--sasl-mechanism %q: want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", o.saslMechanism)
	}
}

// connect builds a client and checks, within --timeout, that some broker
// answers. A cluster that cannot be reached is reported in one line instead
// of the command hanging while the client retries in the background.
func (o *clientOptions) connect(ctx context.Context, extra ...kgo.Opt) (*kgo.Client, error) {
	opts, err := o.kgoOpts(extra...)
	if err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	pctx, cancel := o.withTimeout(ctx)
	defer cancel()
	if err := cl.Ping(pctx); err != nil {
		cl.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("cannot reach broker %s: %w", o.brokers, unwrapDial(err))
	}
	return cl, nil
}

// admin connects and wraps the client for admin requests.
func (o *clientOptions) admin(ctx context.Context) (*kadm.Client, error) {
	cl, err := o.connect(ctx)
	if err != nil {
		return nil, err
	}
	adm := kadm.NewClient(cl)
	if o.timeout > 0 {
		adm.SetTimeoutMillis(int32(o.timeout.Milliseconds()))
	}
	return adm, nil
}

// withTimeout bounds one blocking request by --timeout.
func (o *clientOptions) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if o.timeout <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, o.timeout)
}

// unwrapDial shortens the nested errors of a failed dial ("unable to dial:
// dial tcp ...: connect: connection refused") to their useful end.
func unwrapDial(err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return errors.New("no answer before --timeout")
	}
	return err
}

// Command wordcount is the classic first stream-processing program, written
// with Sluice's Go DSL: it reads lines of text from a topic, splits them
// into words and keeps a running count per word, written to another topic
// as "word -> count" every time a count changes.
//
// The counts live in a local state store backed by a compacted changelog
// topic, so stopping the program (or killing it) loses nothing, and running
// it twice with the same -app-id shares the work. See README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"unicode"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/operators"
)

// Topology counts the words of the lines in topic in and writes each new
// count to topic out (key: the word, value: the count as decimal text).
func Topology(in, out string) (*operators.Topology, error) {
	b := operators.NewBuilder()
	lines := operators.StreamOf(b, in, operators.String, operators.String)
	words := operators.FlatMapValues(lines, func(_ string, line string, emit func(string)) {
		for _, w := range strings.FieldsFunc(strings.ToLower(line), func(r rune) bool {
			return !unicode.IsLetter(r) && !unicode.IsNumber(r) && r != '\''
		}) {
			emit(w)
		}
	}).WithSerdes(operators.String, operators.String)
	counts := operators.GroupBy(words, func(_, w string) string { return w }, operators.String, operators.Named("words")).
		Count(operators.Materialized("word-counts-store"))
	operators.MapValues(counts.ToStream(), func(_ string, n int64) string { return strconv.FormatInt(n, 10) }).
		WithSerdes(operators.String, operators.String).
		To(out)
	return b.Build()
}

func main() {
	env := func(k, def string) string {
		if v := os.Getenv(k); v != "" {
			return v
		}
		return def
	}
	brokers := flag.String("brokers", env("SLUICE_BROKERS", "127.0.0.1:9092"), "comma-separated bootstrap brokers")
	appID := flag.String("app-id", "wordcount", "application id: consumer group and internal topic prefix")
	in := flag.String("input", "text-lines", "topic of text lines")
	out := flag.String("output", "word-counts", "topic the counts are written to")
	stateDir := flag.String("state-dir", "./wordcount-state", "directory for local state stores")
	metrics := flag.String("metrics-listen", "", "serve Prometheus /metrics on host:port (off when empty)")
	describe := flag.Bool("describe", false, "print the topology and exit")
	flag.Parse()

	topo, err := Topology(*in, *out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "wordcount:", err)
		os.Exit(2)
	}
	if *describe {
		fmt.Print(topo.Describe())
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, topo, engine.Config{
		ApplicationID: *appID,
		Brokers:       strings.Split(*brokers, ","),
		StateDir:      *stateDir,
		Registerer:    prometheus.DefaultRegisterer,
	}, *metrics); err != nil {
		fmt.Fprintln(os.Stderr, "wordcount:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, topo *operators.Topology, cfg engine.Config, metrics string) error {
	if metrics != "" {
		srv := &http.Server{Addr: metrics, Handler: promhttp.Handler()}
		go func() {
			if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				slog.Error("metrics server", "err", err)
			}
		}()
		defer srv.Close()
	}
	app, err := engine.New(topo, cfg)
	if err != nil {
		return err
	}
	return app.Run(ctx)
}

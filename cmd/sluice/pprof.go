package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	rpprof "runtime/pprof"
	"time"

	"github.com/spf13/cobra"
)

// `sluice serve --pprof-listen HOST:PORT` serves Go's profiling endpoints
// (/debug/pprof/...) so a broker under a benchmark can be profiled with
// `go tool pprof http://HOST:PORT/debug/pprof/profile?seconds=10`.
// Off by default: the endpoints expose internals and cost a little.
func init() {
	var listen string
	serveExtensions = append(serveExtensions, ServeExtension{
		Name: "pprof",
		Flags: func(cmd *cobra.Command) {
			cmd.Flags().StringVar(&listen, "pprof-listen", "", "host:port to serve /debug/pprof on (off when empty)")
		},
		Run: func(ctx context.Context, _ *cobra.Command, _ string) error {
			if listen == "" {
				return nil
			}
			return servePprof(ctx, listen)
		},
	})
}

func servePprof(ctx context.Context, addr string) error {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("--pprof-listen %s: %w", addr, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	slog.Info("pprof listening", "addr", l.Addr().String())
	if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("pprof server: %w", err)
	}
	return nil
}

// startCPUProfile writes a CPU profile of this process to path until the
// returned stop function is called (for `sluice bench --cpuprofile`).
func startCPUProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	if err := rpprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	return func() { rpprof.StopCPUProfile(); f.Close() }, nil
}

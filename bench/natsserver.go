package bench

import (
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// NATSServer is an embedded nats-server with JetStream on file storage, the
// comparison point for Sluice: it runs either inside the benchmark process
// or, through `sluice bench nats-server`, in a process of its own.
type NATSServer struct {
	s *server.Server
}

// StartNATSServer starts a JetStream-enabled server listening on addr
// (host:port; port 0 picks a free one) that stores streams under storeDir.
func StartNATSServer(addr, storeDir string) (*NATSServer, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("nats listen address %q: %w", addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("nats listen address %q: bad port", addr)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	opts := &server.Options{
		Host:      host,
		Port:      port,
		JetStream: true,
		StoreDir:  storeDir,
		NoLog:     true,
		NoSigs:    true,
		// Room for the benchmark's pending async publishes.
		MaxPending: 256 << 20,
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("nats server: %w", err)
	}
	go s.Start()
	if !s.ReadyForConnections(15 * time.Second) {
		s.Shutdown()
		return nil, fmt.Errorf("nats server on %s not ready after 15s", addr)
	}
	return &NATSServer{s: s}, nil
}

// URL is the address clients connect to.
func (n *NATSServer) URL() string { return n.s.ClientURL() }

// Shutdown stops the server and waits for it to finish.
func (n *NATSServer) Shutdown() {
	n.s.Shutdown()
	n.s.WaitForShutdown()
}

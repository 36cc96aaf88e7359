// Command floor measures the latency floor of this machine for the shape of
// an end-to-end benchmark: a producer and a consumer in one process, a
// server in another, 100-byte messages at a fixed rate over loopback TCP.
// The server is a relay that copies bytes from the producer's connection to
// the consumer's and does nothing else; the producer coalesces whatever
// queued while its previous write was in flight, as a Kafka client batches.
// No broker can beat this path on the same machine, so it tells how much
// of `sluice bench e2e`'s latency is the broker and how much is the
// machine (cores shared by three busy processes, the kernel's scheduling).
//
//	go run ./bench/floor --rate 300000 --duration 6s
package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"sort"
	"sync"
	"time"
)

func main() {
	relayMode := flag.Bool("relay", false, "run as the relay (internal: the parent starts it)")
	rate := flag.Int("rate", 100000, "messages per second")
	dur := flag.Duration("duration", 6*time.Second, "how long to send")
	size := flag.Int("size", 100, "bytes per message (at least 8)")
	warmup := flag.Duration("warmup", time.Second, "leave messages sent in this first period out")
	flag.Parse()
	if *relayMode {
		if err := relay(); err != nil {
			fmt.Fprintln(os.Stderr, "relay:", err)
			os.Exit(1)
		}
		return
	}
	if *size < 8 || *rate <= 0 {
		fmt.Fprintln(os.Stderr, "floor: --size must be at least 8 and --rate positive")
		os.Exit(2)
	}
	if err := run(*rate, *size, *dur, *warmup); err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(1)
	}
}

// relay listens on a free port, prints it, accepts the producer's then the
// consumer's connection and copies one to the other until the producer
// hangs up.
func relay() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Println(ln.Addr().String())
	p, err := ln.Accept()
	if err != nil {
		return err
	}
	c, err := ln.Accept()
	if err != nil {
		return err
	}
	buf := make([]byte, 1<<20)
	for {
		n, err := p.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return werr
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func run(rate, size int, dur, warmup time.Duration) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(self, "--relay")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	addr, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		return fmt.Errorf("relay address: %w", err)
	}
	addr = addr[:len(addr)-1]
	p, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer p.Close()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()

	total := int(float64(rate) * dur.Seconds())
	start := time.Now()
	lats := make([]time.Duration, 0, total)
	done := make(chan error, 1)
	go func() { // the consumer
		r := bufio.NewReaderSize(c, 1<<20)
		msg := make([]byte, size)
		for i := 0; i < total; i++ {
			if _, err := io.ReadFull(r, msg); err != nil {
				done <- err
				return
			}
			sent := time.Unix(0, int64(binary.BigEndian.Uint64(msg)))
			if sent.Sub(start) >= warmup {
				lats = append(lats, time.Since(sent))
			}
		}
		done <- nil
	}()

	var mu sync.Mutex
	cond := sync.NewCond(&mu)
	var queued []byte
	closed := false
	go func() { // the producer's writer: one write for all that queued
		var batch []byte
		for {
			mu.Lock()
			for len(queued) == 0 && !closed {
				cond.Wait()
			}
			if len(queued) == 0 {
				mu.Unlock()
				return
			}
			batch, queued = queued, batch[:0]
			mu.Unlock()
			if _, err := p.Write(batch); err != nil {
				return
			}
		}
	}()
	msg := make([]byte, size)
	for i := 0; i < total; i++ {
		due := start.Add(time.Duration(float64(i) / float64(rate) * float64(time.Second)))
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		}
		binary.BigEndian.PutUint64(msg, uint64(time.Now().UnixNano()))
		mu.Lock()
		queued = append(queued, msg...)
		mu.Unlock()
		cond.Signal()
	}
	mu.Lock()
	closed = true
	mu.Unlock()
	cond.Signal()
	if err := <-done; err != nil {
		return fmt.Errorf("consumer: %w", err)
	}
	if len(lats) == 0 {
		return errors.New("no messages after the warm-up")
	}
	sort.Slice(lats, func(i, j int) bool { return lats[i] < lats[j] })
	q := func(f float64) float64 { return float64(lats[int(f*float64(len(lats)-1))]) / 1e6 }
	fmt.Printf("relay floor at %d msg/s, %d bytes: n=%d p50 %.3f ms p99 %.3f ms p999 %.3f ms max %.3f ms\n",
		rate, size, len(lats), q(.5), q(.99), q(.999), q(1))
	return nil
}

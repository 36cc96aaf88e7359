package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// produceOptions are the flags of `sluice produce`.
type produceOptions struct {
	file            string
	keySep          string
	acks            string
	compression     string
	partition       int32
	headers         []string
	linger          time.Duration
	maxLineBytes    int
	deliveryTimeout time.Duration
	quiet           bool
}

func init() {
	var (
		co clientOptions
		po produceOptions
	)
	cmd := &cobra.Command{
		Use:   "produce TOPIC",
		Short: "Write one record per input line to a topic",
		Long: `Reads lines from standard input (or -f FILE) and produces each non-empty
line as one record. With --key-separator, the text before the first
separator is the record key and the rest the value. Records are sent in
order; the command exits non-zero if any record was not acknowledged.`,
		Example: `  echo hello | sluice produce greetings
  sluice produce orders -f orders.txt --key-separator : --acks all --compression zstd`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runProduce(cmd, &co, &po, args[0])
		},
	}
	addClientFlags(cmd, &co)
	f := cmd.Flags()
	f.StringVarP(&po.file, "file", "f", "", "read records from FILE instead of standard input")
	f.StringVarP(&po.keySep, "key-separator", "K", "", "split each line into key and value at the first SEP")
	f.StringVar(&po.acks, "acks", "all", "acknowledgements to wait for: all, 1 or 0")
	f.StringVar(&po.compression, "compression", "none", "batch compression: none, gzip, snappy, lz4 or zstd")
	f.Int32Var(&po.partition, "partition", -1, "write every record to this partition (default: by key)")
	f.StringArrayVarP(&po.headers, "header", "H", nil, "add header key=value to every record (repeatable)")
	f.DurationVar(&po.linger, "linger", 0, "how long to wait to fill a batch")
	f.IntVar(&po.maxLineBytes, "max-line-bytes", 1<<20, "longest accepted input line")
	f.DurationVar(&po.deliveryTimeout, "delivery-timeout", 30*time.Second, "give up on a record not acknowledged within this time")
	f.BoolVarP(&po.quiet, "quiet", "q", false, "print no summary or progress")
	root.AddCommand(cmd)
}

// parseAcks maps the --acks flag to franz-go's setting. Idempotent writes
// need acks=all, so the other settings turn them off.
func parseAcks(s string) ([]kgo.Opt, error) {
	switch strings.ToLower(s) {
	case "all", "-1":
		return []kgo.Opt{kgo.RequiredAcks(kgo.AllISRAcks())}, nil
	case "1", "leader":
		return []kgo.Opt{kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite()}, nil
	case "0", "none":
		return []kgo.Opt{kgo.RequiredAcks(kgo.NoAck()), kgo.DisableIdempotentWrite()}, nil
	}
	return nil, fmt.Errorf("--acks %q: want all, 1 or 0", s)
}

// parseCompression maps --compression to a franz-go codec.
func parseCompression(s string) (kgo.CompressionCodec, error) {
	switch strings.ToLower(s) {
	case "", "none":
		return kgo.NoCompression(), nil
	case "gzip":
		return kgo.GzipCompression(), nil
	case "snappy":
		return kgo.SnappyCompression(), nil
	case "lz4":
		return kgo.Lz4Compression(), nil
	case "zstd":
		return kgo.ZstdCompression(), nil
	}
	return kgo.CompressionCodec{}, fmt.Errorf("--compression %q: want none, gzip, snappy, lz4 or zstd", s)
}

// parseHeaders turns repeated -H key=value flags into record headers.
func parseHeaders(kvs []string) ([]kgo.RecordHeader, error) {
	var hs []kgo.RecordHeader
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("-H %q: want key=value", kv)
		}
		hs = append(hs, kgo.RecordHeader{Key: k, Value: []byte(v)})
	}
	return hs, nil
}

func runProduce(cmd *cobra.Command, co *clientOptions, po *produceOptions, topic string) error {
	acks, err := parseAcks(po.acks)
	if err != nil {
		return err
	}
	codec, err := parseCompression(po.compression)
	if err != nil {
		return err
	}
	headers, err := parseHeaders(po.headers)
	if err != nil {
		return err
	}
	if po.maxLineBytes < 1 {
		return fmt.Errorf("--max-line-bytes %d: must be positive", po.maxLineBytes)
	}

	var in io.Reader = cmd.InOrStdin()
	var size int64 = -1
	if po.file != "" {
		f, err := os.Open(po.file)
		if err != nil {
			return err
		}
		defer f.Close()
		if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
			size = st.Size()
		}
		in = f
	}

	opts := append(acks,
		kgo.ProducerBatchCompression(codec),
		kgo.ProducerLinger(po.linger),
		kgo.RecordDeliveryTimeout(po.deliveryTimeout),
		kgo.DefaultProduceTopic(topic),
	)
	if po.partition >= 0 {
		opts = append(opts, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	}
	ctx := cmd.Context()
	cl, err := co.connect(ctx, opts...)
	if err != nil {
		return err
	}
	defer cl.Close()

	mctx, cancel := co.withTimeout(ctx)
	d, err := topicExists(mctx, kadm.NewClient(cl), topic)
	cancel()
	if err != nil {
		return err
	}
	if po.partition >= 0 && int(po.partition) >= len(d.Partitions) {
		return fmt.Errorf("--partition %d: topic %s has partitions 0..%d", po.partition, topic, len(d.Partitions)-1)
	}

	counter := &countingReader{r: in}
	p := &lineProducer{cl: cl, headers: headers, keySep: []byte(po.keySep), partition: po.partition}
	var bar *progressBar
	if po.file != "" && !po.quiet && isTerminal(os.Stderr) {
		bar = startProgress(os.Stderr, counter, size, &p.acked)
	}
	readErr := p.run(ctx, counter, po.maxLineBytes)

	// Deliver whatever was read, even after a bad line or an interrupt, so
	// nothing read is silently dropped; bound the wait by the delivery timeout.
	fctx, fcancel := context.WithTimeout(context.Background(), po.deliveryTimeout+5*time.Second)
	flushErr := cl.Flush(fctx)
	fcancel()
	if bar != nil {
		bar.stop()
	}

	sent, acked, failed := p.sent.Load(), p.acked.Load(), p.failed.Load()
	if !po.quiet {
		fmt.Fprintf(cmd.ErrOrStderr(), "produced %d records to %s\n", acked, topic)
	}
	switch {
	case failed > 0:
		return fmt.Errorf("%d of %d records were not written to %s; first error: %w", failed, sent, topic, p.firstErr())
	case flushErr != nil:
		return fmt.Errorf("waiting for %d records to be acknowledged: %w", sent-acked, flushErr)
	case readErr != nil && !errors.Is(readErr, context.Canceled):
		return readErr
	}
	return nil
}

// lineProducer turns input lines into records and counts their fate.
type lineProducer struct {
	cl        *kgo.Client
	headers   []kgo.RecordHeader
	keySep    []byte
	partition int32

	sent, acked, failed atomic.Int64

	mu    sync.Mutex
	first error
}

// run reads lines until EOF, the first bad line, the first failed record or
// cancellation. It returns a line-numbered error for bad input.
func (p *lineProducer) run(ctx context.Context, r io.Reader, maxLine int) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, min(64*1024, maxLine)), maxLine)
	line := 0
	for sc.Scan() {
		line++
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if p.failed.Load() > 0 {
			return nil // reported by the caller with the record's error
		}
		b := bytes.TrimSuffix(sc.Bytes(), []byte{'\r'})
		if len(b) == 0 {
			continue
		}
		rec := &kgo.Record{Headers: p.headers, Partition: p.partition}
		if len(p.keySep) > 0 {
			k, v, ok := bytes.Cut(b, p.keySep)
			if !ok {
				return fmt.Errorf("line %d: no key separator %q", line, p.keySep)
			}
			rec.Key, rec.Value = bytes.Clone(k), bytes.Clone(v)
		} else {
			rec.Value = bytes.Clone(b)
		}
		p.sent.Add(1)
		// Records already read are delivered even if ctx is cancelled (Ctrl-C):
		// cancellation stops reading, it does not drop buffered records.
		p.cl.Produce(context.WithoutCancel(ctx), rec, p.promise)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return fmt.Errorf("line %d: longer than %d bytes (raise --max-line-bytes)", line+1, maxLine)
		}
		return fmt.Errorf("reading input: %w", err)
	}
	return nil
}

func (p *lineProducer) promise(r *kgo.Record, err error) {
	if err == nil {
		p.acked.Add(1)
		return
	}
	p.failed.Add(1)
	p.mu.Lock()
	if p.first == nil {
		p.first = fmt.Errorf("partition %d: %w", r.Partition, err)
	}
	p.mu.Unlock()
}

func (p *lineProducer) firstErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.first
}

// countingReader counts the bytes read through it for the progress bar.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n.Add(int64(n))
	return n, err
}

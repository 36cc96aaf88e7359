package iot

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"

	parquet "github.com/parquet-go/parquet-go"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Produce writes the generated readings to topic, keyed by sensor_id with
// the reading's time as the record timestamp, counting acknowledged
// records in done. It returns how many it produced.
func Produce(ctx context.Context, cl *kgo.Client, topic string, cfg Config, done *atomic.Int64) (int64, error) {
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
		n     int64
	)
	err := Generate(cfg, func(r Reading) error {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		n++
		wg.Add(1)
		cl.Produce(ctx, &kgo.Record{Topic: topic, Key: []byte(r.SensorID), Value: r.JSON(), Timestamp: r.TS}, func(_ *kgo.Record, err error) {
			defer wg.Done()
			if err != nil {
				once.Do(func() { first = err })
				return
			}
			done.Add(1)
		})
		return nil
	})
	wg.Wait()
	if err == nil {
		err = first
	}
	return n, err
}

// Summary tells the user where the demo's output is and shows some of it.
func Summary(w io.Writer, out, sluice string) {
	pq, _ := filepath.Glob(filepath.Join(out, "parquet", "*", "*.parquet"))
	sort.Strings(pq)
	averages := filepath.Join(out, "averages.jsonl")
	alerts := filepath.Join(out, "alerts.jsonl")
	fmt.Fprintf(w, "Output in %s:\n", out)
	rows := 0
	for _, p := range pq {
		rows += parquetRows(p)
	}
	nAvg := countLines(averages)
	fmt.Fprintf(w, "  %-24s %d files, %d rows: one file per minute of averages\n", "parquet/iot.averages/", len(pq), rows)
	if rows < nAvg {
		fmt.Fprintf(w, "  %-24s (the newest file is committed when the next minute's averages arrive)\n", "")
	}
	fmt.Fprintf(w, "  %-24s %d per-sensor one-minute averages\n", "averages.jsonl", nAvg)
	fmt.Fprintf(w, "  %-24s %d alerts (readings over %v°C)\n", "alerts.jsonl", countLines(alerts), AlertThreshold)
	fmt.Fprintln(w, "\nFirst averages:")
	head(w, averages, 3)
	fmt.Fprintln(w, "\nFirst alerts:")
	head(w, alerts, 3)
	fmt.Fprintln(w, "\nLook at it:")
	if len(pq) > 0 {
		fmt.Fprintf(w, "  %s demo cat %s | head\n", sluice, pq[0])
	}
	fmt.Fprintf(w, "  head %s\n", averages)
	fmt.Fprintln(w, "\nRun it yourself against a broker (see examples/iot/README.md):")
	fmt.Fprintf(w, "  %s serve --data-dir ./data &\n", sluice)
	fmt.Fprintf(w, "  %s run examples/iot/pipeline.yaml &\n", sluice)
	fmt.Fprintf(w, "  %s consume iot.averages\n", sluice)
}

func parquetRows(path string) int {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0
	}
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		return 0
	}
	return int(pf.NumRows())
}

func countLines(path string) int {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		n++
	}
	return n
}

func head(w io.Writer, path string, n int) {
	f, err := os.Open(path)
	if err != nil {
		fmt.Fprintf(w, "  (none: %v)\n", err)
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for i := 0; i < n && sc.Scan(); i++ {
		fmt.Fprintf(w, "  %s\n", sc.Text())
	}
}

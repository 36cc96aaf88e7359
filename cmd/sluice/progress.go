package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// isTerminal reports whether f is a character device (a terminal), so that
// progress output is only drawn for people, never into pipes or log files.
func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// progressBar redraws one status line on a terminal while a file is being
// produced: bytes read of the file's size, records acknowledged and rate.
// It is small on purpose; a dependency for one line of output is not worth it.
type progressBar struct {
	w     io.Writer
	read  *countingReader
	size  int64
	acked *atomic.Int64
	start time.Time

	stopOnce sync.Once
	done     chan struct{}
	exited   chan struct{}
}

func startProgress(w io.Writer, read *countingReader, size int64, acked *atomic.Int64) *progressBar {
	b := &progressBar{w: w, read: read, size: size, acked: acked, start: time.Now(),
		done: make(chan struct{}), exited: make(chan struct{})}
	go b.loop()
	return b
}

func (b *progressBar) loop() {
	defer close(b.exited)
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-b.done:
			b.draw()
			fmt.Fprintln(b.w)
			return
		case <-t.C:
			b.draw()
		}
	}
}

func (b *progressBar) draw() {
	// \r returns to the line start; ESC[K clears what a longer line left.
	fmt.Fprintf(b.w, "\r%s\x1b[K", renderProgress(b.read.n.Load(), b.size, b.acked.Load(), time.Since(b.start)))
}

// stop draws the final state and ends the redraw goroutine.
func (b *progressBar) stop() {
	b.stopOnce.Do(func() { close(b.done) })
	<-b.exited
}

// renderProgress formats one progress line; size < 0 means unknown.
func renderProgress(read, size, records int64, elapsed time.Duration) string {
	const width = 30
	rate := 0.0
	if s := elapsed.Seconds(); s > 0 {
		rate = float64(records) / s
	}
	if size <= 0 {
		return fmt.Sprintf("%s read, %d records, %.0f records/s", humanBytes(read), records, rate)
	}
	frac := float64(read) / float64(size)
	frac = min(max(frac, 0), 1)
	filled := int(frac * width)
	bar := strings.Repeat("=", filled) + strings.Repeat(" ", width-filled)
	return fmt.Sprintf("[%s] %3.0f%% %s/%s, %d records, %.0f records/s",
		bar, frac*100, humanBytes(read), humanBytes(size), records, rate)
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

package compile

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/pipelines"
)

// vms pools expr VMs: a VM holds a stack and scratch space and is not safe
// for concurrent use, and the engine runs tasks on several goroutines.
var vms = sync.Pool{New: func() any { return &vm.VM{} }}

// RecordError is a record an expression failed on at run time: a field of
// an unexpected type, a division by zero, a condition that is not boolean.
type RecordError struct {
	// Where is the expression's position in the pipeline file.
	Where pipelines.Pos
	Step  string
	Err   error
}

func (e *RecordError) Error() string {
	return fmt.Sprintf("%s: %s: %v", e.Where, e.Step, e.Err)
}

func (e *RecordError) Unwrap() error { return e.Err }

// exprError shortens expr's run-time errors to their message (they carry a
// multi-line source snippet meant for a terminal).
func exprError(err error) error {
	var fe *file.Error
	if errors.As(err, &fe) {
		return errors.New(fe.Message)
	}
	if i := strings.IndexByte(err.Error(), '\n'); i > 0 {
		return errors.New(err.Error()[:i])
	}
	return err
}

// Errors counts and logs record errors of one pipeline. Logging is limited
// to one line per step per interval so a bad field in a busy topic does not
// flood the log; the counter has every one.
type Errors struct {
	pipeline string
	log      *slog.Logger
	total    atomic.Int64
	counter  *prometheus.CounterVec
	last     sync.Map // step position -> *atomic.Int64 (unix nanos of the last log line)
}

// logEvery bounds how often one step's record errors are logged.
const logEvery = 10 * time.Second

// Total is how many record errors the pipeline has had.
func (e *Errors) Total() int64 { return e.total.Load() }

func (e *Errors) record(re *RecordError) {
	e.total.Add(1)
	if e.counter != nil {
		e.counter.WithLabelValues(e.pipeline, re.Where.String()).Inc()
	}
	key := re.Where.String()
	v, _ := e.last.LoadOrStore(key, new(atomic.Int64))
	last := v.(*atomic.Int64)
	now := time.Now().UnixNano()
	if prev := last.Load(); now-prev >= int64(logEvery) && last.CompareAndSwap(prev, now) {
		e.log.Warn("record skipped", "pipeline", e.pipeline, "at", key, "step", re.Step, "err", re.Err, "errors_total", e.total.Load())
	}
}

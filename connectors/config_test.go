package connectors

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

var testSpec = ConfigSpec{
	{Name: "file", Type: TypeString, Required: true, Doc: "Path."},
	{Name: "batch.size", Type: TypeInt, Default: "500", Validate: AtLeast(1)},
	{Name: "tail", Type: TypeBool, Default: "false"},
	{Name: "poll.interval", Type: TypeDuration, Default: "1s", Validate: Positive},
	{Name: "columns", Type: TypeList},
	{Name: "password", Type: TypePassword},
	{Name: "format", Type: TypeEnum, Enum: []string{"json", "csv"}, Default: "json"},
	{Name: "ratio", Type: TypeFloat, Default: "0.5"},
}

func TestConfigParseDefaultsAndGetters(t *testing.T) {
	cfg, err := testSpec.Parse(map[string]string{
		"file": "/tmp/x", "columns": " a, b ,,c", "password": "s3cret", "poll.interval": "250", "extra.key": "kept",
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.String("file"); got != "/tmp/x" {
		t.Errorf("file = %q", got)
	}
	if got := cfg.Int("batch.size"); got != 500 {
		t.Errorf("batch.size = %d", got)
	}
	if cfg.Bool("tail") {
		t.Errorf("tail = true")
	}
	if got := cfg.Duration("poll.interval"); got != 250*time.Millisecond {
		t.Errorf("poll.interval = %v (integers are milliseconds)", got)
	}
	if got := cfg.List("columns"); !reflect.DeepEqual(got, []string{"a", "b", "c"}) {
		t.Errorf("columns = %q", got)
	}
	if got := cfg.String("format"); got != "json" {
		t.Errorf("format = %q", got)
	}
	if got := cfg.Float("ratio"); got != 0.5 {
		t.Errorf("ratio = %v", got)
	}
	if got := cfg.String("extra.key"); got != "kept" {
		t.Errorf("keys outside the spec must pass through, got %q", got)
	}
	if got := cfg.Redacted()["password"]; got != "[hidden]" {
		t.Errorf("redacted password = %q", got)
	}
	if got := cfg.Map()["password"]; got != "s3cret" {
		t.Errorf("password = %q", got)
	}
}

func TestConfigValidatePerField(t *testing.T) {
	errs := testSpec.Validate(map[string]string{
		"batch.size": "0", "tail": "yes", "poll.interval": "soon", "format": "xml", "ratio": "half",
	})
	want := map[string]string{
		"file":          "required",
		"batch.size":    "must be at least 1",
		"tail":          "not a boolean",
		"poll.interval": "not a duration",
		"format":        `"xml" is not one of json, csv`,
		"ratio":         "not a number",
	}
	if len(errs) != len(want) {
		t.Fatalf("got %d errors, want %d: %v", len(errs), len(want), errs)
	}
	for _, fe := range errs {
		if !strings.Contains(fe.Message, want[fe.Field]) {
			t.Errorf("%s: message %q does not mention %q", fe.Field, fe.Message, want[fe.Field])
		}
	}
	_, err := testSpec.Parse(map[string]string{})
	if !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("Parse error %v is not ErrInvalidConfig", err)
	}
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.Errors[0].Field != "file" {
		t.Fatalf("Parse error %#v does not list the field", err)
	}
}

func TestRegisterRejectsBadPlugins(t *testing.T) {
	cases := []Plugin{
		{Name: "", Kind: KindSink, NewSink: func() Sink { return nil }},
		{Name: "x", Kind: KindSink},
		{Name: "x", Kind: "both", NewSink: func() Sink { return nil }},
		{Name: "x", Kind: KindSink, NewSink: func() Sink { return nil }, Spec: ConfigSpec{{Name: "a"}, {Name: "a"}}},
		{Name: "x", Kind: KindSink, NewSink: func() Sink { return nil }, Spec: ConfigSpec{{Name: "n", Type: TypeInt, Default: "x"}}},
	}
	for i, p := range cases {
		if err := p.check(); err == nil {
			t.Errorf("case %d: plugin %+v accepted", i, p)
		}
	}
	Register(Plugin{Name: "test-registry-sink", Kind: KindSink, NewSink: func() Sink { return nil }})
	if _, err := Lookup("test-registry-sink"); err != nil {
		t.Fatal(err)
	}
	if _, err := Lookup("nope"); !errors.Is(err, ErrUnknownPlugin) {
		t.Fatalf("Lookup(nope) = %v", err)
	}
}

func TestRetriableAndRecordErrors(t *testing.T) {
	base := errors.New("connection refused")
	err := fmt.Errorf("write: %w", Retriable(base))
	if !IsRetriable(err) || !errors.Is(err, base) {
		t.Fatalf("retriable wrapping lost: %v", err)
	}
	if IsRetriable(base) || Retriable(nil) != nil {
		t.Fatal("plain errors are fatal; Retriable(nil) is nil")
	}
	var re RecordErrors
	if re.Err() != nil {
		t.Fatal("empty RecordErrors must be nil")
	}
	re.Add(2, errors.New("bad json"))
	var got *RecordErrors
	if !errors.As(fmt.Errorf("sink: %w", re.Err()), &got) || (*got)[0].Index != 2 {
		t.Fatalf("RecordErrors not found through wrapping")
	}
}

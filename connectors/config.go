package connectors

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// FieldType is the type of a config field's value. Values always travel as
// strings (as in Kafka Connect's JSON configs); the type says how they parse.
type FieldType int

const (
	TypeString   FieldType = iota // any string
	TypeInt                       // a base-10 int64
	TypeFloat                     // a float64
	TypeBool                      // true or false
	TypeDuration                  // a Go duration ("5s", "1h30m") or an integer number of milliseconds
	TypeList                      // comma-separated strings; blanks trimmed, empties dropped
	TypePassword                  // a string hidden in responses and logs
	TypeEnum                      // one of Field.Enum (case-sensitive)
)

var typeNames = [...]string{"STRING", "INT", "DOUBLE", "BOOLEAN", "DURATION", "LIST", "PASSWORD", "ENUM"}

// String returns the Kafka-Connect-style upper-case name (STRING, INT, ...).
func (t FieldType) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return fmt.Sprintf("FieldType(%d)", int(t))
}

// Field declares one config key.
type Field struct {
	Name string
	Type FieldType
	// Default is the value, as a user would write it, used when the key is
	// absent. Empty means no default.
	Default string
	// Required fields must be present and non-empty.
	Required bool
	Doc      string
	// Enum lists the allowed values of a TypeEnum field.
	Enum []string
	// Validate, when set, checks the parsed value: string (TypeString,
	// TypePassword, TypeEnum), int64, float64, bool, time.Duration or
	// []string (TypeList). It is not called for absent optional fields.
	Validate func(v any) error
	// Group names the section the field belongs to in docs and validate
	// responses ("Common", "Connection", ...).
	Group string
}

// ConfigSpec is a connector's declared configuration: it validates configs,
// fills defaults and documents the keys. Keys not in the spec are allowed and
// passed through (the worker's own keys, for example).
type ConfigSpec []Field

// Field returns the field named name.
func (s ConfigSpec) Field(name string) (Field, bool) {
	for _, f := range s {
		if f.Name == name {
			return f, true
		}
	}
	return Field{}, false
}

// FieldError is a problem with one config key.
type FieldError struct {
	Field   string
	Message string
}

func (e FieldError) Error() string { return e.Field + ": " + e.Message }

// ConfigError lists every bad field of a config. It matches ErrInvalidConfig
// with errors.Is.
type ConfigError struct {
	Errors []FieldError
}

func (e *ConfigError) Error() string {
	parts := make([]string, len(e.Errors))
	for i, fe := range e.Errors {
		parts[i] = fe.Error()
	}
	return ErrInvalidConfig.Error() + ": " + strings.Join(parts, "; ")
}

func (e *ConfigError) Is(target error) bool { return target == ErrInvalidConfig }

// Check validates one field's raw value (present reports whether the key was
// given at all) and returns the problems, or nil.
func (f Field) Check(raw string, present bool) []string {
	if !present || raw == "" {
		if f.Required && f.Default == "" {
			return []string{"required"}
		}
		if f.Default == "" {
			return nil
		}
		raw = f.Default
	}
	v, err := f.parse(raw)
	if err != nil {
		return []string{err.Error()}
	}
	if f.Validate != nil {
		if err := f.Validate(v); err != nil {
			return []string{err.Error()}
		}
	}
	return nil
}

func (f Field) parse(raw string) (any, error) {
	switch f.Type {
	case TypeString, TypePassword:
		return raw, nil
	case TypeInt:
		n, err := strconv.ParseInt(strings.TrimSpace(raw), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("not an integer: %q", raw)
		}
		return n, nil
	case TypeFloat:
		x, err := strconv.ParseFloat(strings.TrimSpace(raw), 64)
		if err != nil {
			return nil, fmt.Errorf("not a number: %q", raw)
		}
		return x, nil
	case TypeBool:
		switch strings.ToLower(strings.TrimSpace(raw)) {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
		return nil, fmt.Errorf("not a boolean (true or false): %q", raw)
	case TypeDuration:
		return parseDuration(raw)
	case TypeList:
		return splitList(raw), nil
	case TypeEnum:
		for _, e := range f.Enum {
			if raw == e {
				return raw, nil
			}
		}
		return nil, fmt.Errorf("%q is not one of %s", raw, strings.Join(f.Enum, ", "))
	}
	return nil, fmt.Errorf("unknown field type %v", f.Type)
}

func parseDuration(raw string) (time.Duration, error) {
	s := strings.TrimSpace(raw)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Duration(n) * time.Millisecond, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("not a duration (like 500ms, 5s, 1h, or milliseconds): %q", raw)
	}
	return d, nil
}

func splitList(raw string) []string {
	var out []string
	for _, p := range strings.Split(raw, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Validate checks raw against the spec and returns every problem, field by
// field, in spec order. An empty result means the config is valid.
func (s ConfigSpec) Validate(raw map[string]string) []FieldError {
	var errs []FieldError
	for _, f := range s {
		v, ok := raw[f.Name]
		for _, msg := range f.Check(v, ok) {
			errs = append(errs, FieldError{Field: f.Name, Message: msg})
		}
	}
	return errs
}

// Parse validates raw and returns it as a Config with defaults applied. The
// error is a *ConfigError (errors.Is ErrInvalidConfig) listing every bad
// field.
func (s ConfigSpec) Parse(raw map[string]string) (Config, error) {
	if errs := s.Validate(raw); len(errs) > 0 {
		return Config{}, &ConfigError{Errors: errs}
	}
	vals := make(map[string]string, len(raw)+len(s))
	for k, v := range raw {
		vals[k] = v
	}
	for _, f := range s {
		if vals[f.Name] == "" && f.Default != "" {
			vals[f.Name] = f.Default
		}
	}
	return Config{spec: s, values: vals}, nil
}

// Merge returns the fields of s followed by those of other whose names s
// does not already declare.
func (s ConfigSpec) Merge(other ConfigSpec) ConfigSpec {
	out := append(ConfigSpec(nil), s...)
	for _, f := range other {
		if _, ok := s.Field(f.Name); !ok {
			out = append(out, f)
		}
	}
	return out
}

// Config is a validated connector config with defaults applied. The typed
// getters return the zero value for keys that are absent (optional without
// default) or, for keys outside the spec, that do not parse.
type Config struct {
	spec   ConfigSpec
	values map[string]string
}

// NewConfig parses raw against spec; see ConfigSpec.Parse.
func NewConfig(spec ConfigSpec, raw map[string]string) (Config, error) { return spec.Parse(raw) }

// Has reports whether key has a non-empty value (given or defaulted).
func (c Config) Has(key string) bool { return c.values[key] != "" }

// String returns the raw string value of key.
func (c Config) String(key string) string { return c.values[key] }

// Int returns key as an int64.
func (c Config) Int(key string) int64 {
	n, _ := strconv.ParseInt(strings.TrimSpace(c.values[key]), 10, 64)
	return n
}

// Float returns key as a float64.
func (c Config) Float(key string) float64 {
	x, _ := strconv.ParseFloat(strings.TrimSpace(c.values[key]), 64)
	return x
}

// Bool returns key as a bool.
func (c Config) Bool(key string) bool {
	return strings.EqualFold(strings.TrimSpace(c.values[key]), "true")
}

// Duration returns key as a time.Duration.
func (c Config) Duration(key string) time.Duration {
	d, _ := parseDuration(c.values[key])
	return d
}

// List returns key split on commas.
func (c Config) List(key string) []string { return splitList(c.values[key]) }

// Map returns a copy of every key and value, defaults included. Callers
// that log it should use Redacted instead.
func (c Config) Map() map[string]string {
	out := make(map[string]string, len(c.values))
	for k, v := range c.values {
		out[k] = v
	}
	return out
}

// Redacted returns Map with password fields replaced by "[hidden]".
func (c Config) Redacted() map[string]string {
	out := c.Map()
	for _, f := range c.spec {
		if f.Type == TypePassword && out[f.Name] != "" {
			out[f.Name] = "[hidden]"
		}
	}
	return out
}

// Validators for Field.Validate.

// AtLeast accepts int64 values >= min.
func AtLeast(min int64) func(any) error {
	return func(v any) error {
		if n, ok := v.(int64); ok && n < min {
			return fmt.Errorf("must be at least %d, got %d", min, n)
		}
		return nil
	}
}

// Between accepts int64 values in [min, max].
func Between(min, max int64) func(any) error {
	return func(v any) error {
		if n, ok := v.(int64); ok && (n < min || n > max) {
			return fmt.Errorf("must be between %d and %d, got %d", min, max, n)
		}
		return nil
	}
}

// Positive accepts durations and numbers greater than zero.
func Positive(v any) error {
	switch x := v.(type) {
	case int64:
		if x <= 0 {
			return fmt.Errorf("must be positive, got %d", x)
		}
	case float64:
		if x <= 0 {
			return fmt.Errorf("must be positive, got %g", x)
		}
	case time.Duration:
		if x <= 0 {
			return fmt.Errorf("must be positive, got %s", x)
		}
	}
	return nil
}

// Doc renders the spec as a Markdown table, grouped and in declaration
// order, for generated documentation.
func (s ConfigSpec) Doc() string {
	var b strings.Builder
	b.WriteString("| Key | Type | Default | Required | Description |\n|---|---|---|---|---|\n")
	groups := map[string][]Field{}
	var order []string
	for _, f := range s {
		if _, ok := groups[f.Group]; !ok {
			order = append(order, f.Group)
		}
		groups[f.Group] = append(groups[f.Group], f)
	}
	sort.SliceStable(order, func(i, j int) bool { return order[i] == "" && order[j] != "" })
	for _, g := range order {
		for _, f := range groups[g] {
			doc := f.Doc
			if f.Type == TypeEnum {
				doc += " One of: " + strings.Join(f.Enum, ", ") + "."
			}
			req := ""
			if f.Required {
				req = "yes"
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", f.Name, f.Type, quoteDefault(f.Default), req,
				strings.ReplaceAll(doc, "|", `\|`))
		}
	}
	return b.String()
}

func quoteDefault(d string) string {
	if d == "" {
		return ""
	}
	return "`" + d + "`"
}

// errInvalidSpec reports a programming mistake in a plugin's spec.
var errInvalidSpec = errors.New("invalid config spec")

// check verifies the spec is well formed: unique names, enums with values,
// defaults that pass their own validation.
func (s ConfigSpec) check() error {
	seen := map[string]bool{}
	for _, f := range s {
		if f.Name == "" {
			return fmt.Errorf("%w: field with empty name", errInvalidSpec)
		}
		if seen[f.Name] {
			return fmt.Errorf("%w: field %q declared twice", errInvalidSpec, f.Name)
		}
		seen[f.Name] = true
		if f.Type == TypeEnum && len(f.Enum) == 0 {
			return fmt.Errorf("%w: enum field %q has no values", errInvalidSpec, f.Name)
		}
		if f.Default != "" {
			if msgs := f.Check(f.Default, true); len(msgs) > 0 {
				return fmt.Errorf("%w: field %q default %q: %s", errInvalidSpec, f.Name, f.Default, msgs[0])
			}
		}
	}
	return nil
}

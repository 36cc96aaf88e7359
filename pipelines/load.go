package pipelines

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// MaxFileSize bounds a pipeline file read from disk; pipeline files are
// small, and a multi-megabyte one is a mistake (a data file passed by
// accident).
const MaxFileSize = 4 << 20

// Options configure loading.
type Options struct {
	// Env resolves ${NAME}; nil means os.LookupEnv.
	Env EnvLookup
	// Connectors validates connector plugin names and options; nil means
	// the connectors registered with the connectors SDK.
	Connectors ConnectorCatalog
}

func (o *Options) env() EnvLookup {
	if o == nil || o.Env == nil {
		return os.LookupEnv
	}
	return o.Env
}

// Set is the pipelines loaded from one or more files, ready to compile.
type Set struct {
	Pipelines []*Pipeline
}

// Lint loads every file (a directory means its *.yaml and *.yml files),
// checks the pipelines in them, and returns them with every problem found.
// The error is for files that cannot be read at all; problems in their
// contents are diagnostics.
func Lint(opts *Options, paths ...string) (*Set, Diagnostics, error) {
	var files []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, nil, fmt.Errorf("pipeline file: %w", err)
		}
		if !st.IsDir() {
			files = append(files, p)
			continue
		}
		var found []string
		for _, pat := range []string{"*.yaml", "*.yml"} {
			m, _ := filepath.Glob(filepath.Join(p, pat))
			found = append(found, m...)
		}
		if len(found) == 0 {
			return nil, nil, fmt.Errorf("pipeline directory %s: no *.yaml or *.yml files", p)
		}
		sort.Strings(found)
		files = append(files, found...)
	}
	var all []*Pipeline
	var diags Diagnostics
	for _, f := range files {
		data, err := readLimited(f)
		if err != nil {
			return nil, nil, err
		}
		ps, ds := Parse(f, data, opts)
		all = append(all, ps...)
		diags = append(diags, ds...)
	}
	set := &Set{Pipelines: all}
	diags = append(diags, Check(set, opts)...)
	diags.Sort()
	return set, diags, nil
}

func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("pipeline file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("pipeline file %s: %w", path, err)
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("pipeline file %s: larger than %d bytes", path, MaxFileSize)
	}
	return data, nil
}

// Parse reads the pipelines in one file's contents. A file holds one
// pipeline (a mapping), a list of them (a top-level list, or a mapping
// with a "pipelines" list), or several YAML documents of either form.
// Problems are returned as diagnostics; pipelines that could be read are
// returned even when others could not, so every problem is reported.
func Parse(file string, data []byte, opts *Options) ([]*Pipeline, Diagnostics) {
	var diags Diagnostics
	d := &decoder{file: file, lines: strings.Split(string(data), "\n"), env: opts.env(), diags: &diags}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var out []*Pipeline
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			d.syntaxError(err, data)
			break
		}
		if len(doc.Content) == 0 {
			continue
		}
		out = append(out, d.document(resolve(doc.Content[0]))...)
	}
	if len(out) == 0 && len(diags) == 0 {
		diags.add(Pos{File: file, Line: 1, Col: 1}, "a pipeline has a name, sources, steps and a sink; see examples/iot/pipeline.yaml", "no pipelines in file")
	}
	return out, diags
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// syntaxError turns a yaml.v3 parse error into a positioned diagnostic.
// yaml.v3 reports the line where the enclosing block started, not where
// the problem is, and no column; problemLine finds the line, and the
// column given is its first non-blank character.
func (d *decoder) syntaxError(err error, data []byte) {
	msg := err.Error()
	line := 0
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
		if l := problemLine(data, msg, line); l > 0 {
			line = l
		}
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	col := 1
	hint := "check the indentation, and that every \"key: value\" has a space after the colon"
	var l string
	if line > 0 && line <= len(d.lines) {
		l = d.lines[line-1]
		col = len(l) - len(strings.TrimLeft(l, " ")) + 1
	}
	switch {
	case strings.Contains(msg, "cannot start any token") && strings.Contains(l, "\t"):
		col = strings.IndexByte(l, '\t') + 1
		hint = "YAML is indented with spaces; replace the tab"
	case strings.Contains(msg, "mapping values are not allowed"):
		if first := strings.Index(l, ": "); first >= 0 {
			if second := strings.Index(l[first+2:], ": "); second >= 0 {
				col = first + 2 + second + 1
			}
		}
		hint = "a value that contains \": \" must be quoted, e.g. filter: 'kind == \"alert\"'"
	case strings.Contains(l, "${") && strings.ContainsAny(l, "{}"):
		hint = "inside { } a ${...} must be quoted: {topic: \"${TOPIC}\"}"
	case strings.Contains(msg, "end of stream"):
		hint = "a quoted string, [ or { opened here is not closed"
	}
	if line == 0 {
		line = 1
	}
	d.diags.add(Pos{File: d.file, Line: line, Col: col}, hint, "YAML syntax error: %s", msg)
}

// maxProblemLineSearch bounds the re-parsing problemLine does.
const maxProblemLineSearch = 2000

// problemLine finds the first line at which the file stops parsing with
// the same message as the whole file: the file's first k lines parse
// cleanly for every k before it. It starts at the line yaml.v3 reported
// (the problem is never before it) and returns 0 when it cannot tell.
func problemLine(data []byte, msg string, from int) int {
	lines := bytes.SplitAfter(data, []byte("\n"))
	if len(lines) > maxProblemLineSearch {
		return 0
	}
	for k := max(from, 1); k <= len(lines); k++ {
		prefix := bytes.Join(lines[:k], nil)
		dec := yaml.NewDecoder(bytes.NewReader(prefix))
		for {
			var n yaml.Node
			err := dec.Decode(&n)
			if err == nil {
				continue
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if m := yamlLineRE.FindStringSubmatch(err.Error()); m != nil && m[2] == msg {
				return k
			}
			break
		}
	}
	return 0
}

// document reads one YAML document's pipelines.
func (d *decoder) document(n *yaml.Node) []*Pipeline {
	switch n.Kind {
	case yaml.SequenceNode:
		return d.pipelineList(n)
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == "pipelines" {
				if len(n.Content) > 2 {
					d.errf(n, "put every pipeline's fields inside the pipelines list", "a file with a \"pipelines\" list has no other top-level fields")
				}
				list := resolve(n.Content[i+1])
				if list.Kind != yaml.SequenceNode {
					d.errf(list, "", "pipelines: expected a list of pipelines, got %s", describe(list))
					return nil
				}
				return d.pipelineList(list)
			}
		}
		if p := d.pipeline(n); p != nil {
			return []*Pipeline{p}
		}
		return nil
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return nil
		}
	}
	d.errf(n, "a pipeline file holds a pipeline (a mapping) or a list of them", "expected a pipeline, got %s", describe(n))
	return nil
}

func (d *decoder) pipelineList(n *yaml.Node) []*Pipeline {
	var out []*Pipeline
	for _, it := range n.Content {
		if p := d.pipeline(resolve(it)); p != nil {
			out = append(out, p)
		}
	}
	if len(n.Content) == 0 {
		d.errf(n, "", "empty list of pipelines")
	}
	return out
}

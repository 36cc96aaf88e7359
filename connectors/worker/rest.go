package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime/debug"
	"strconv"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sluicehq/sluice/connectors"
)

// MaxRequestBytes bounds REST request bodies.
const MaxRequestBytes = 1 << 20

// Version is reported by GET /.
var Version = buildVersion()

// Handler returns the REST API, shaped like Kafka Connect's, plus /metrics.
func (w *Worker) Handler() http.Handler {
	mux := http.NewServeMux()
	h := func(pattern string, fn func(http.ResponseWriter, *http.Request) error) {
		mux.HandleFunc(pattern, func(rw http.ResponseWriter, r *http.Request) {
			ctx, cancel := context.WithTimeout(r.Context(), w.cfg.ApplyTimeout)
			defer cancel()
			if err := fn(rw, r.WithContext(ctx)); err != nil {
				writeError(rw, err)
			}
		})
	}
	h("GET /{$}", w.handleRoot)
	h("GET /connectors", w.handleList)
	h("POST /connectors", w.handleCreate)
	h("GET /connectors/{name}", w.handleInfo)
	h("DELETE /connectors/{name}", w.handleDelete)
	h("GET /connectors/{name}/config", w.handleGetConfig)
	h("PUT /connectors/{name}/config", w.handlePutConfig)
	h("PATCH /connectors/{name}/config", w.handlePatchConfig)
	h("GET /connectors/{name}/status", w.handleStatus)
	h("GET /connectors/{name}/tasks", w.handleTasks)
	h("GET /connectors/{name}/tasks/{id}/status", w.handleTaskStatus)
	h("POST /connectors/{name}/tasks/{id}/restart", w.handleTaskRestart)
	h("PUT /connectors/{name}/pause", w.handlePause)
	h("PUT /connectors/{name}/resume", w.handleResume)
	h("POST /connectors/{name}/restart", w.handleRestart)
	h("GET /connectors/{name}/offsets", w.handleOffsets)
	h("GET /connector-plugins", w.handlePlugins)
	h("PUT /connector-plugins/{type}/config/validate", w.handleValidate)
	mux.Handle("GET /metrics", promhttp.HandlerFor(w.cfg.Gatherer, promhttp.HandlerOpts{}))
	mux.HandleFunc("/", func(rw http.ResponseWriter, r *http.Request) {
		writeJSON(rw, http.StatusNotFound, restError{Code: http.StatusNotFound, Message: fmt.Sprintf("no such endpoint: %s %s", r.Method, r.URL.Path)})
	})
	return mux
}

// restError is Kafka Connect's error body.
type restError struct {
	Code    int    `json:"error_code"`
	Message string `json:"message"`
}

// httpError is an error with a status code chosen by the handler.
type httpError struct {
	code int
	err  error
}

func (e *httpError) Error() string { return e.err.Error() }
func (e *httpError) Unwrap() error { return e.err }

func badRequest(format string, args ...any) error {
	return &httpError{http.StatusBadRequest, fmt.Errorf(format, args...)}
}

func writeError(rw http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	msg := err.Error()
	var he *httpError
	var ce *connectors.ConfigError
	switch {
	case errors.As(err, &he):
		code = he.code
	case errors.As(err, &ce):
		code = http.StatusBadRequest
		msg = fmt.Sprintf("Connector configuration is invalid and contains the following %d error(s):", len(ce.Errors))
		for _, fe := range ce.Errors {
			msg += "\n" + fe.Error()
		}
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrTaskNotFound), errors.Is(err, connectors.ErrUnknownPlugin):
		code = http.StatusNotFound
	case errors.Is(err, ErrExists):
		code = http.StatusConflict
	case errors.Is(err, ErrInvalidName):
		code = http.StatusBadRequest
	case errors.Is(err, ErrNotReady), errors.Is(err, ErrWorkerStopped), errors.Is(err, context.DeadlineExceeded):
		code = http.StatusServiceUnavailable
	}
	writeJSON(rw, code, restError{Code: code, Message: msg})
}

func writeJSON(rw http.ResponseWriter, code int, v any) {
	rw.Header().Set("Content-Type", "application/json")
	rw.WriteHeader(code)
	if v != nil {
		_ = json.NewEncoder(rw).Encode(v)
	}
}

// decodeBody reads a JSON body of at most MaxRequestBytes into v.
func decodeBody(r *http.Request, v any) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxRequestBytes+1))
	if err != nil {
		return badRequest("read request body: %v", err)
	}
	if len(body) > MaxRequestBytes {
		return &httpError{http.StatusRequestEntityTooLarge, fmt.Errorf("request body larger than %d bytes", MaxRequestBytes)}
	}
	if err := json.Unmarshal(body, v); err != nil {
		return badRequest("request body is not valid JSON for this endpoint: %v", err)
	}
	return nil
}

// configMap decodes a config object whose values may be JSON strings,
// numbers or booleans (Kafka Connect tolerates all three); nested objects
// are refused.
func configMap(raw map[string]json.RawMessage) (map[string]string, error) {
	out := make(map[string]string, len(raw))
	for k, v := range raw {
		var s string
		if err := json.Unmarshal(v, &s); err == nil {
			out[k] = s
			continue
		}
		var x any
		if err := json.Unmarshal(v, &x); err != nil {
			return nil, badRequest("config %q: %v", k, err)
		}
		switch x := x.(type) {
		case float64, bool:
			out[k] = string(v)
		case nil:
			// null: leave unset
		default:
			return nil, badRequest("config %q must be a string, number or boolean, got %T", k, x)
		}
	}
	return out, nil
}

func (w *Worker) handleRoot(rw http.ResponseWriter, r *http.Request) error {
	writeJSON(rw, http.StatusOK, map[string]any{"version": Version, "commit": "", "kafka_cluster_id": "", "worker_id": w.cfg.WorkerID, "ready": w.Ready()})
	return nil
}

func (w *Worker) handleList(rw http.ResponseWriter, r *http.Request) error {
	names, err := w.Connectors(r.Context())
	if err != nil {
		return err
	}
	expand := r.URL.Query()["expand"]
	if len(expand) == 0 {
		writeJSON(rw, http.StatusOK, names)
		return nil
	}
	out := map[string]map[string]any{}
	for _, n := range names {
		entry := map[string]any{}
		for _, e := range expand {
			switch e {
			case "status":
				if st, err := w.Status(r.Context(), n); err == nil {
					entry["status"] = st
				}
			case "info":
				if info, err := w.Info(r.Context(), n); err == nil {
					entry["info"] = info
				}
			default:
				return badRequest("expand=%q: want status or info", e)
			}
		}
		out[n] = entry
	}
	writeJSON(rw, http.StatusOK, out)
	return nil
}

func (w *Worker) handleCreate(rw http.ResponseWriter, r *http.Request) error {
	var body struct {
		Name   string                     `json:"name"`
		Config map[string]json.RawMessage `json:"config"`
	}
	if err := decodeBody(r, &body); err != nil {
		return err
	}
	cfg, err := configMap(body.Config)
	if err != nil {
		return err
	}
	if body.Name == "" {
		body.Name = cfg[KeyName]
	}
	if body.Name == "" {
		return badRequest("connector name is required (\"name\" in the body)")
	}
	if body.Config == nil {
		return badRequest("connector config is required (\"config\" in the body)")
	}
	info, err := w.Create(r.Context(), body.Name, cfg)
	if err != nil {
		return err
	}
	writeJSON(rw, http.StatusCreated, info)
	return nil
}

func (w *Worker) handleInfo(rw http.ResponseWriter, r *http.Request) error {
	info, err := w.Info(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(rw, http.StatusOK, info)
	return nil
}

func (w *Worker) handleDelete(rw http.ResponseWriter, r *http.Request) error {
	if err := w.Delete(r.Context(), r.PathValue("name")); err != nil {
		return err
	}
	writeJSON(rw, http.StatusNoContent, nil)
	return nil
}

func (w *Worker) handleGetConfig(rw http.ResponseWriter, r *http.Request) error {
	info, err := w.Info(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(rw, http.StatusOK, info.Config)
	return nil
}

func (w *Worker) handlePutConfig(rw http.ResponseWriter, r *http.Request) error {
	var raw map[string]json.RawMessage
	if err := decodeBody(r, &raw); err != nil {
		return err
	}
	cfg, err := configMap(raw)
	if err != nil {
		return err
	}
	info, created, err := w.PutConfig(r.Context(), r.PathValue("name"), cfg)
	if err != nil {
		return err
	}
	code := http.StatusOK
	if created {
		code = http.StatusCreated
	}
	writeJSON(rw, code, info)
	return nil
}

// handlePatchConfig merges the body into the connector's config (KIP-477):
// keys with null values are removed, others set.
func (w *Worker) handlePatchConfig(rw http.ResponseWriter, r *http.Request) error {
	var raw map[string]json.RawMessage
	if err := decodeBody(r, &raw); err != nil {
		return err
	}
	patch, err := configMap(raw)
	if err != nil {
		return err
	}
	name := r.PathValue("name")
	info, err := w.Info(r.Context(), name)
	if err != nil {
		return err
	}
	cfg := info.Config
	for k, v := range raw {
		if string(v) == "null" {
			delete(cfg, k)
		}
	}
	for k, v := range patch {
		cfg[k] = v
	}
	info, _, err = w.PutConfig(r.Context(), name, cfg)
	if err != nil {
		return err
	}
	writeJSON(rw, http.StatusOK, info)
	return nil
}

func (w *Worker) handleStatus(rw http.ResponseWriter, r *http.Request) error {
	st, err := w.Status(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(rw, http.StatusOK, st)
	return nil
}

func (w *Worker) handleTasks(rw http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	cfgs, err := w.TaskConfigs(r.Context(), name)
	if err != nil {
		return err
	}
	type taskInfo struct {
		ID     TaskID            `json:"id"`
		Config map[string]string `json:"config"`
	}
	out := make([]taskInfo, len(cfgs))
	for i, c := range cfgs {
		out[i] = taskInfo{ID: TaskID{Connector: name, Task: i}, Config: c}
	}
	writeJSON(rw, http.StatusOK, out)
	return nil
}

func taskID(r *http.Request) (int, error) {
	id, err := strconv.Atoi(r.PathValue("id"))
	if err != nil {
		return 0, badRequest("task id %q is not an integer", r.PathValue("id"))
	}
	return id, nil
}

func (w *Worker) handleTaskStatus(rw http.ResponseWriter, r *http.Request) error {
	id, err := taskID(r)
	if err != nil {
		return err
	}
	st, err := w.TaskStatus(r.Context(), r.PathValue("name"), id)
	if err != nil {
		return err
	}
	writeJSON(rw, http.StatusOK, st)
	return nil
}

func (w *Worker) handleTaskRestart(rw http.ResponseWriter, r *http.Request) error {
	id, err := taskID(r)
	if err != nil {
		return err
	}
	if err := w.RestartTask(r.Context(), r.PathValue("name"), id); err != nil {
		return err
	}
	writeJSON(rw, http.StatusNoContent, nil)
	return nil
}

func (w *Worker) handlePause(rw http.ResponseWriter, r *http.Request) error {
	if err := w.Pause(r.Context(), r.PathValue("name")); err != nil {
		return err
	}
	writeJSON(rw, http.StatusAccepted, nil)
	return nil
}

func (w *Worker) handleResume(rw http.ResponseWriter, r *http.Request) error {
	if err := w.Resume(r.Context(), r.PathValue("name")); err != nil {
		return err
	}
	writeJSON(rw, http.StatusAccepted, nil)
	return nil
}

func boolParam(r *http.Request, key string) (bool, error) {
	v := r.URL.Query().Get(key)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, badRequest("%s=%q: want true or false", key, v)
	}
	return b, nil
}

func (w *Worker) handleRestart(rw http.ResponseWriter, r *http.Request) error {
	includeTasks, err := boolParam(r, "includeTasks")
	if err != nil {
		return err
	}
	onlyFailed, err := boolParam(r, "onlyFailed")
	if err != nil {
		return err
	}
	name := r.PathValue("name")
	if err := w.Restart(r.Context(), name, includeTasks, onlyFailed); err != nil {
		return err
	}
	if !includeTasks && !onlyFailed {
		writeJSON(rw, http.StatusNoContent, nil)
		return nil
	}
	st, err := w.Status(r.Context(), name)
	if err != nil {
		return err
	}
	writeJSON(rw, http.StatusAccepted, st)
	return nil
}

func (w *Worker) handleOffsets(rw http.ResponseWriter, r *http.Request) error {
	offs, err := w.Offsets(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(rw, http.StatusOK, map[string]any{"offsets": offs})
	return nil
}

// PluginInfo is an entry of GET /connector-plugins.
type PluginInfo struct {
	Class   string `json:"class"`
	Type    string `json:"type"`
	Version string `json:"version"`
	Doc     string `json:"doc,omitempty"`
}

func (w *Worker) handlePlugins(rw http.ResponseWriter, r *http.Request) error {
	out := []PluginInfo{}
	for _, p := range connectors.Plugins() {
		v := p.Version
		if v == "" {
			v = Version
		}
		out = append(out, PluginInfo{Class: p.Name, Type: string(p.Kind), Version: v, Doc: p.Doc})
	}
	writeJSON(rw, http.StatusOK, out)
	return nil
}

func (w *Worker) handleValidate(rw http.ResponseWriter, r *http.Request) error {
	var raw map[string]json.RawMessage
	if err := decodeBody(r, &raw); err != nil {
		return err
	}
	cfg, err := configMap(raw)
	if err != nil {
		return err
	}
	res, err := w.Validate(r.PathValue("type"), cfg)
	if err != nil {
		if errors.Is(err, connectors.ErrUnknownPlugin) {
			return err
		}
		return badRequest("%v", err)
	}
	writeJSON(rw, http.StatusOK, res)
	return nil
}

// buildVersion is the version Go stamped into the binary (a module version,
// or a pseudo-version from the VCS checkout it was built in), "dev" when
// there is none. Built-in plugins report it, as Kafka Connect's built-in
// connectors report the Kafka version.
func buildVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

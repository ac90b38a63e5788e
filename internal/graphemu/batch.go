package graphemu

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// maxBatch is the most requests one $batch may hold ([D] json-batching).
const maxBatch = 20

type batchRequest struct {
	ID        string            `json:"id"`
	Method    string            `json:"method"`
	URL       string            `json:"url"`
	Headers   map[string]string `json:"headers"`
	Body      json.RawMessage   `json:"body"`
	DependsOn []string          `json:"dependsOn"`
}

// serveBatch answers POST /$batch (§5.3): at most 20 requests with
// distinct ids, a body only with a Content-Type, and a request whose
// dependency failed answered 424. Each inner request is admitted and
// throttled on its own. chosen: inner requests run one after another, in
// order, which dependsOn allows and the answer order does not show.
func (s *Server) serveBatch(w http.ResponseWriter, r *http.Request, app *App, version string) {
	var req struct {
		Requests []batchRequest `json:"requests"`
	}
	if gerr := decodeJSON(r, &req); gerr != nil {
		s.writeError(w, gerr)
		return
	}
	if len(req.Requests) == 0 || len(req.Requests) > maxBatch {
		s.writeError(w, badRequest("The number of batch requests must be between 1 and %d.", maxBatch))
		return
	}
	ids := make(map[string]bool)
	for _, br := range req.Requests {
		if br.ID == "" || ids[br.ID] {
			s.writeError(w, badRequest("Batch request ids must be present and unique: %q.", br.ID))
			return
		}
		ids[br.ID] = true
		if len(br.Body) > 0 && headerValue(br.Headers, "Content-Type") == "" {
			s.writeError(w, badRequest("Request %s has a body but no Content-Type header.", br.ID))
			return
		}
	}
	status := make(map[string]int)
	var out []map[string]any
	for _, br := range req.Requests {
		failed := false
		for _, d := range br.DependsOn {
			if st, ok := status[d]; !ok || st >= 400 {
				failed = true
			}
		}
		if failed {
			status[br.ID] = 424
			out = append(out, map[string]any{"id": br.ID, "status": 424, "body": map[string]any{"error": map[string]any{
				"code": "FailedDependency", "message": "A request this one depends on failed."}}})
			continue
		}
		u, err := url.Parse(br.URL)
		if err != nil || u.IsAbs() {
			status[br.ID] = 400
			out = append(out, map[string]any{"id": br.ID, "status": 400, "body": map[string]any{"error": map[string]any{
				"code": "BadRequest", "message": "Invalid relative URL."}}})
			continue
		}
		var body io.Reader = http.NoBody
		if len(br.Body) > 0 {
			body = bytes.NewReader(br.Body)
			// A non-JSON body travels as a JSON string, base64 for binary.
			var str string
			if json.Unmarshal(br.Body, &str) == nil {
				body = strings.NewReader(str)
			}
		}
		in, err := http.NewRequestWithContext(r.Context(), strings.ToUpper(br.Method), "/"+version+"/"+strings.TrimPrefix(u.Path, "/")+"?"+u.RawQuery, body)
		if err != nil {
			status[br.ID] = 400
			continue
		}
		for k, v := range br.Headers {
			in.Header.Set(k, v)
		}
		// Prefer headers of the batch apply to its requests.
		if in.Header.Get("Prefer") == "" {
			in.Header["Prefer"] = r.Header.Values("Prefer")
		}
		rec := &recorder{header: make(http.Header)}
		s.serveGraph(rec, in, app, append([]string{version}, splitPath(u.Path)...))
		if rec.status == 0 {
			rec.status = 200
		}
		status[br.ID] = rec.status
		resp := map[string]any{"id": br.ID, "status": rec.status, "headers": flatHeader(rec.header)}
		if rec.body.Len() > 0 {
			if json.Valid(rec.body.Bytes()) && strings.Contains(rec.header.Get("Content-Type"), "json") {
				resp["body"] = json.RawMessage(bytes.TrimSpace(rec.body.Bytes()))
			} else {
				resp["body"] = rec.body.String()
			}
		}
		out = append(out, resp)
	}
	writeJSON(w, 200, map[string]any{"responses": out})
}

func headerValue(h map[string]string, k string) string {
	for hk, v := range h {
		if strings.EqualFold(hk, k) {
			return v
		}
	}
	return ""
}

func flatHeader(h http.Header) map[string]string {
	out := make(map[string]string)
	for k, v := range h {
		out[k] = strings.Join(v, ", ")
	}
	return out
}

// recorder captures an inner response of a $batch.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(s int) {
	if r.status == 0 {
		r.status = s
	}
}
func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = 200
	}
	return r.body.Write(b)
}

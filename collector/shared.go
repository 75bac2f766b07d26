package collector

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
)

// response is a rendered page, shared read-only by the requests that wait
// for the same rendering.
type response struct {
	status int
	header http.Header
	body   []byte
}

// shared serves what render returns, rendering once for all the requests
// that arrive while a rendering of the same key is in flight: a flood of
// the status page or the JSON API costs one rendering at a time, not one
// per request. A request whose client leaves stops waiting at once.
func (c *Collector) shared(key string, render func() response) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ch := c.renders.DoChan(key, func() (resp any, _ error) {
			// A panic here would end the process (singleflight raises it
			// again where no handler recovers it): fail the requests.
			defer func() {
				if r := recover(); r != nil {
					c.logger.Error("rendering a page panicked", "page", key, "panic", r)
					resp = textResponse(http.StatusInternalServerError, "cannot render the page")
				}
			}()
			return render(), nil
		})
		select {
		case res := <-ch:
			resp := res.Val.(response)
			for k, v := range resp.header {
				w.Header()[k] = v
			}
			w.WriteHeader(resp.status)
			_, _ = w.Write(resp.body)
		case <-r.Context().Done():
		}
	})
}

// jsonResponse renders body as indented JSON.
func jsonResponse(status int, body any, logger *slog.Logger) response {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(body); err != nil {
		logger.Error("rendering a JSON response", "err", err)
		return textResponse(http.StatusInternalServerError, "cannot render the response")
	}
	return response{status: status, body: buf.Bytes(), header: http.Header{
		"Content-Type":           {"application/json; charset=utf-8"},
		"X-Content-Type-Options": {"nosniff"},
	}}
}

// textResponse is a plain-text message, as http.Error writes it.
func textResponse(status int, msg string) response {
	return response{status: status, body: []byte(msg + "\n"), header: http.Header{
		"Content-Type":           {"text/plain; charset=utf-8"},
		"X-Content-Type-Options": {"nosniff"},
	}}
}

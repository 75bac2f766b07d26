package collector

import (
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"golang.org/x/sync/singleflight"
)

// gatherHandler serves /metrics: it writes as it encodes, where
// promhttp's timeout wrapper would hold the whole response in memory, and
// it shares one gather between the requests that arrive while it runs.
type gatherHandler struct {
	gatherer prometheus.Gatherer
	timeout  time.Duration
	logger   *slog.Logger
	gathers  singleflight.Group
}

// gathered is the result of one gather, read (never changed) by every
// request that shares it.
type gathered struct {
	families []*dto.MetricFamily
	err      error
}

// MetricsHandler serves what g gathers in the format the scraper asks for,
// gzip-compressed when it accepts gzip. A request whose gather has not
// ended after timeout answers 503 and frees its slot (the gather goes on,
// for the requests that join it). A response is cut off as soon as its
// scraper leaves (Prometheus closes the connection at its scrape timeout),
// so that an overloaded agent stops working for a scraper that has given
// up; the encoding itself has no deadline, so that a slow machine serves
// slowly rather than not at all. A collector's error is logged and the
// rest served, as promhttp.ContinueOnError does.
func MetricsHandler(g prometheus.Gatherer, timeout time.Duration, logger *slog.Logger) http.Handler {
	return &gatherHandler{gatherer: g, timeout: timeout, logger: logger}
}

func (h *gatherHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), h.timeout)
	defer cancel()
	ch := h.gathers.DoChan("gather", func() (res any, _ error) {
		// A collector's panic would end the process (singleflight raises
		// it again where no handler recovers it): fail the scrapes.
		defer func() {
			if r := recover(); r != nil {
				res = gathered{err: fmt.Errorf("gathering panicked: %v", r)}
			}
		}()
		families, err := h.gatherer.Gather()
		return gathered{families, err}, nil
	})
	var res gathered
	select {
	case c := <-ch:
		res = c.Val.(gathered)
	case <-ctx.Done():
		http.Error(w, fmt.Sprintf("The metrics were not gathered within %s.", h.timeout), http.StatusServiceUnavailable)
		return
	}
	if res.err != nil {
		h.logger.Error("gathering the metrics", "err", res.err)
		if len(res.families) == 0 {
			http.Error(w, "An error has occurred while gathering the metrics; see the agent's log.", http.StatusInternalServerError)
			return
		}
	}

	format := expfmt.NegotiateAccept(r.Header, acceptedFormats...)
	w.Header().Set("Content-Type", string(format))
	var out io.Writer = deadlineWriter{w: w, ctx: r.Context()}
	if acceptsGzip(r.Header.Get("Accept-Encoding")) {
		w.Header().Set("Content-Encoding", "gzip")
		w.Header().Add("Vary", "Accept-Encoding")
		gz := gzipWriters.Get().(*gzip.Writer)
		gz.Reset(out)
		defer gzipWriters.Put(gz)
		out = gz
	}
	enc := expfmt.NewEncoder(out, format)
	for _, mf := range res.families {
		if err := enc.Encode(mf); err != nil {
			h.abort(err)
		}
	}
	if c, ok := enc.(expfmt.Closer); ok {
		if err := c.Close(); err != nil {
			h.abort(err)
		}
	}
	if gz, ok := out.(*gzip.Writer); ok {
		if err := gz.Close(); err != nil {
			h.abort(err)
		}
	}
}

// abort ends a response cut off by the scraper leaving.
// The connection is dropped rather than the body ended, so that the
// scraper cannot take a truncated response for a whole one.
func (h *gatherHandler) abort(err error) {
	h.logger.Debug("the metrics response was cut off", "err", err)
	panic(http.ErrAbortHandler)
}

// acceptedFormats are the exposition formats served, text first: those
// promhttp serves by default.
var acceptedFormats = expfmt.DefaultAcceptedFormats()

var gzipWriters = sync.Pool{New: func() any { return gzip.NewWriter(nil) }}

// deadlineWriter refuses to write once ctx has ended: the request's, which
// ends when the scraper closes the connection.
type deadlineWriter struct {
	w   io.Writer
	ctx context.Context
}

func (d deadlineWriter) Write(p []byte) (int, error) {
	if err := d.ctx.Err(); err != nil {
		return 0, err
	}
	return d.w.Write(p)
}

// acceptsGzip reports whether an Accept-Encoding header admits gzip.
func acceptsGzip(header string) bool {
	for part := range strings.SplitSeq(header, ",") {
		coding, params, _ := strings.Cut(part, ";")
		if strings.TrimSpace(coding) != "gzip" {
			continue
		}
		q := strings.ReplaceAll(params, " ", "")
		return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
	}
	return false
}

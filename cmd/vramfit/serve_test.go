package main

import (
	"bytes"
	"context"
	"flag"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	"github.com/prometheus/exporter-toolkit/web"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/vramfit/vramfit/collector"
	"github.com/vramfit/vramfit/nvml"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata/metrics.golden from what the exporter serves now")

const exampleTargets = "../../deploy/examples/targets.yml"

// volatileLine matches the lines of families whose values change from run
// to run (or build to build): left out of the golden file.
var volatileLine = regexp.MustCompile(`^(# (HELP|TYPE) )?(go_|process_|promhttp_|vramfit_build_info|vramfit_scrape_collector_duration_seconds|vramfit_config_last_reload_success_timestamp_seconds)`)

// testServeFlags are serve's defaults, as kingpin sets them.
func testServeFlags() serveFlags {
	return serveFlags{metricsPath: "/metrics", maxRequests: 40, scrapeTimeout: 8 * time.Second}
}

// testMux is the exporter's mux on a fake fleet and a targets file.
func testMux(t *testing.T, f serveFlags, fleet, targets string) *http.ServeMux {
	t.Helper()
	logger := slog.New(slog.DiscardHandler)
	backend, err := nvml.OpenFake(fleet)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, backend.Close()) })
	store := collector.NewTargetStore(targets, logger)
	_, err = store.Reload()
	require.NoError(t, err)
	return f.newMux(collector.New(backend, store, f.scrapeTimeout, logger, f.holders.options(f.scrapeTimeout, logger)...), store, logger)
}

func get(t *testing.T, h http.Handler, method, target string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, target, nil))
	return rec
}

// The whole /metrics of the demo: the dgx-h100 fleet with the example
// targets. Refresh with `make golden` and review the diff like code.
func TestMetricsGolden(t *testing.T) {
	rec := get(t, testMux(t, testServeFlags(), "dgx-h100", exampleTargets), http.MethodGet, "/metrics")
	require.Equal(t, http.StatusOK, rec.Code)
	var kept strings.Builder
	for line := range strings.Lines(rec.Body.String()) {
		if !volatileLine.MatchString(line) {
			kept.WriteString(line)
		}
	}
	golden := filepath.Join("testdata", "metrics.golden")
	if *updateGolden {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(golden, []byte(kept.String()), 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err)
	assert.Equal(t, string(want), kept.String(),
		"/metrics changed: after an intended change run `go test ./cmd/vramfit -run TestMetricsGolden -update` (make golden) and review the diff")
}

// What /metrics serves passes the linter of `promtool check metrics`,
// exporter metrics included.
func TestMetricsLint(t *testing.T) {
	rec := get(t, testMux(t, testServeFlags(), "mig-a100", exampleTargets), http.MethodGet, "/metrics")
	require.Equal(t, http.StatusOK, rec.Code)
	problems, err := promlint.New(rec.Body).Lint()
	require.NoError(t, err)
	assert.Empty(t, problems)
}

func TestRoutes(t *testing.T) {
	mux := testMux(t, testServeFlags(), "dgx-h100", exampleTargets)
	tests := []struct {
		method, path string
		code         int
		contentType  string
		allow        string
	}{
		{http.MethodGet, "/", http.StatusOK, "text/html; charset=utf-8", ""},
		{http.MethodHead, "/", http.StatusOK, "text/html; charset=utf-8", ""},
		{http.MethodPost, "/", http.StatusMethodNotAllowed, "", "GET, HEAD"},
		{http.MethodGet, "/no-such-page", http.StatusNotFound, "", ""},
		{http.MethodGet, "/metrics", http.StatusOK, "text/plain; version=0.0.4; charset=utf-8; escaping=underscores", ""},
		{http.MethodGet, "/api/v1/targets", http.StatusOK, "application/json; charset=utf-8", ""},
		{http.MethodGet, "/api/v1/inventory", http.StatusOK, "application/json; charset=utf-8", ""},
		{http.MethodGet, "/-/healthy", http.StatusOK, "", ""},
		{http.MethodGet, "/-/ready", http.StatusOK, "", ""},
		{http.MethodGet, "/-/reload", http.StatusMethodNotAllowed, "", http.MethodPost},
		// The lifecycle API is off by default.
		{http.MethodPost, "/-/reload", http.StatusForbidden, "", ""},
	}
	for _, tt := range tests {
		rec := get(t, mux, tt.method, tt.path)
		assert.Equal(t, tt.code, rec.Code, "%s %s", tt.method, tt.path)
		if tt.contentType != "" {
			assert.Equal(t, tt.contentType, rec.Header().Get("Content-Type"), "%s %s", tt.method, tt.path)
		}
		if tt.allow != "" {
			assert.Equal(t, tt.allow, rec.Header().Get("Allow"), "%s %s", tt.method, tt.path)
		}
	}
}

func TestRouteFlags(t *testing.T) {
	t.Run("telemetry path", func(t *testing.T) {
		f := testServeFlags()
		f.metricsPath = "/internal/metrics"
		mux := testMux(t, f, "dgx-h100", exampleTargets)
		assert.Equal(t, http.StatusOK, get(t, mux, http.MethodGet, "/internal/metrics").Code)
		assert.Equal(t, http.StatusNotFound, get(t, mux, http.MethodGet, "/metrics").Code)
		assert.Contains(t, get(t, mux, http.MethodGet, "/").Body.String(), `href="/internal/metrics"`)
	})
	t.Run("lifecycle enabled", func(t *testing.T) {
		f := testServeFlags()
		f.enableLifecycle = true
		rec := get(t, testMux(t, f, "dgx-h100", exampleTargets), http.MethodPost, "/-/reload")
		assert.Equal(t, http.StatusOK, rec.Code)
		assert.Equal(t, "The targets file is unchanged.\n", rec.Body.String())
	})
	t.Run("exporter metrics", func(t *testing.T) {
		body := get(t, testMux(t, testServeFlags(), "dgx-h100", exampleTargets), http.MethodGet, "/metrics").Body.String()
		assert.Contains(t, body, "\ngo_goroutines ")
		assert.Contains(t, body, "\npromhttp_metric_handler_requests_total{")
		f := testServeFlags()
		f.disableExporterMetrics = true
		body = get(t, testMux(t, f, "dgx-h100", exampleTargets), http.MethodGet, "/metrics").Body.String()
		assert.NotContains(t, body, "go_goroutines")
		assert.NotContains(t, body, "promhttp_")
		assert.Contains(t, body, "vramfit_build_info{")
	})
}

// NVML down is no scrape failure: /metrics answers 200 with the targets and
// the failures of the nvml collector and of the targets' placement.
func TestMetricsWithoutNVML(t *testing.T) {
	fleet := filepath.Join(t.TempDir(), "broken.yml")
	require.NoError(t, os.WriteFile(fleet, []byte("gpus: [{board: rtx-4090}]\nfaults: {unavailable: \"no driver\"}\n"), 0o600))
	rec := get(t, testMux(t, testServeFlags(), fleet, exampleTargets), http.MethodGet, "/metrics")
	require.Equal(t, http.StatusOK, rec.Code)
	body := rec.Body.String()
	assert.Contains(t, body, "\nvramfit_scrape_collector_success{collector=\"nvml\"} 0\n")
	assert.Contains(t, body, "\nvramfit_scrape_collector_success{collector=\"targets\"} 0\n")
	assert.Contains(t, body, "\nvramfit_target_required_bytes{component=\"total\",target=\"llama-3-8b-chat\"} ")
	assert.NotContains(t, body, "vramfit_gpu_up{")
	assert.NotContains(t, body, "vramfit_target_fits{")
}

func runServe(t *testing.T, args ...string) (status int, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	status = run(append([]string{"serve"}, args...), &out, &errOut)
	return status, errOut.String()
}

// Errors found before serving end the program: 2 for a flag out of range,
// 1 for a file or address that does not work, each with the reason.
func TestServeStartErrors(t *testing.T) {
	dir := t.TempDir()
	badTargets := filepath.Join(dir, "targets.yml")
	require.NoError(t, os.WriteFile(badTargets, []byte("targets:\n  - {name: chat, model: {preset: llama-3-8b}, batch: 0}\n"), 0o600))
	badWebConfig := filepath.Join(dir, "web.yml")
	require.NoError(t, os.WriteFile(badWebConfig, []byte("tls_server_config: {cert_file: /nonexistent.crt}\n"), 0o600))
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer busy.Close()

	tests := []struct {
		name   string
		args   []string
		status int
		stderr string
	}{
		{"bad targets file", []string{"--config.file=" + badTargets}, 1, badTargets + ":2: targets[0].batch: "},
		{"missing targets file", []string{"--config.file=" + filepath.Join(dir, "none.yml")}, 1, "no such file or directory"},
		{"bad web config", []string{"--web.config.file=" + badWebConfig}, 1, "--web.config.file " + badWebConfig + ": "},
		{"unknown fleet", []string{"--nvml.fake=no-such-fleet"}, 1, `fake fleet "no-such-fleet"`},
		{"address in use", []string{"--nvml.fake=dgx-h100", "--web.listen-address=" + busy.Addr().String()}, 1, "address already in use"},
		{"telemetry path", []string{"--web.telemetry-path=metrics"}, 2, "--web.telemetry-path \"metrics\": "},
		{"telemetry path taken", []string{"--web.telemetry-path=/"}, 2, "is taken by the status page"},
		{"max requests", []string{"--web.max-requests=-1"}, 2, "--web.max-requests -1: "},
		{"scrape timeout", []string{"--scrape.timeout=0s"}, 2, "--scrape.timeout 0s: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, stderr := runServe(t, append(tt.args, "--log.level=error")...)
			assert.Equal(t, tt.status, status)
			assert.Contains(t, stderr, tt.stderr)
		})
	}
}

// countingBackend counts Close calls on a fake backend.
type countingBackend struct {
	nvml.Backend
	closes atomic.Int32
}

func (b *countingBackend) Close() error {
	b.closes.Add(1)
	return b.Backend.Close()
}

// freeAddress is a loopback address nothing listens on now.
func freeAddress(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

// testClient keeps no connection open, so that no goroutine outlives a test.
var testClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}

func fetch(t testing.TB, url string) (int, string) {
	t.Helper()
	resp, err := testClient.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(body)
}

func waitReady(t *testing.T, base string) {
	t.Helper()
	require.Eventually(t, func() bool { code, _ := fetch(t, base+"/-/ready"); return code == http.StatusOK },
		10*time.Second, 10*time.Millisecond, "the server did not become ready")
}

// The server stops when its context ends, requests done, and closes the
// backend once.
func TestServeShutdown(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	logger := slog.New(slog.DiscardHandler)
	fake, err := nvml.OpenFake("dgx-h100")
	require.NoError(t, err)
	backend := &countingBackend{Backend: fake}
	store := collector.NewTargetStore(exampleTargets, logger)
	_, err = store.Reload()
	require.NoError(t, err)

	addr := freeAddress(t)
	f := testServeFlags()
	systemd, webConfig := false, ""
	f.web = &web.FlagConfig{WebListenAddresses: &[]string{addr}, WebSystemdSocket: &systemd, WebConfigFile: &webConfig}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	go func() { done <- f.serve(ctx, logger, store, backend, nil) }()
	waitReady(t, "http://"+addr)
	code, body := fetch(t, "http://"+addr+"/metrics")
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, "vramfit_target_fits{")

	cancel()
	select {
	case status := <-done:
		assert.Equal(t, 0, status)
	case <-time.After(10 * time.Second):
		require.FailNow(t, "serve did not return after its context ended")
	}
	assert.Equal(t, int32(1), backend.closes.Load(), "the backend is closed exactly once")
	code, _ = fetch(t, "http://"+addr+"/-/healthy")
	assert.Equal(t, 0, code, "nothing listens after shutdown")
}

// Every path answers a method it does not serve with 405 and the methods
// it does in Allow: /metrics used to answer DELETE, PUT, TRACE, OPTIONS,
// PATCH and CONNECT with 200.
func TestMethodNotAllowed(t *testing.T) {
	f := testServeFlags()
	f.enableLifecycle = true
	mux := testMux(t, f, "dgx-h100", exampleTargets)
	paths := map[string]string{
		"/metrics": "GET, HEAD", "/": "GET, HEAD", "/api/v1/targets": "GET, HEAD", "/api/v1/inventory": "GET, HEAD",
		"/-/healthy": "GET, HEAD", "/-/ready": "GET, HEAD", "/-/reload": http.MethodPost,
	}
	methods := []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodTrace, http.MethodConnect}
	for path, allow := range paths {
		for _, method := range methods {
			if slices.Contains(strings.Split(allow, ", "), method) {
				continue // served
			}
			rec := get(t, mux, method, path)
			assert.Equal(t, http.StatusMethodNotAllowed, rec.Code, "%s %s", method, path)
			assert.Equal(t, allow, rec.Header().Get("Allow"), "%s %s", method, path)
		}
	}
}

// --web.max-requests bounds the requests that do work, the status page and
// the JSON API beside /metrics (docs/serve.md; collector's limit), so a
// flood of either gets 503 for both. Its help said "parallel scrape
// requests", and an operator who raised it for Prometheus alone, or was
// surprised by a 503 on the status page during a scrape storm, was misled.
func TestServeHelpMaxRequests(t *testing.T) {
	var stdout, stderr bytes.Buffer
	require.Equal(t, 0, run([]string{"serve", "--help"}, &stdout, &stderr), stderr.String())
	help := stdout.String()
	i := strings.Index(help, "--web.max-requests")
	require.GreaterOrEqual(t, i, 0, help)
	entry := help[i:]
	if j := strings.Index(entry[1:], "\n      --"); j >= 0 {
		entry = entry[:j+1]
	}
	entry = strings.Join(strings.Fields(entry), " ")
	for _, want := range []string{"/metrics", "status page", "/api/v1/", "503"} {
		assert.Contains(t, entry, want)
	}
}

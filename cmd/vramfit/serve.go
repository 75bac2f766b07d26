package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"
	"github.com/prometheus/exporter-toolkit/web/kingpinflag"

	"github.com/vramfit/vramfit/collector"
	"github.com/vramfit/vramfit/nvml"
)

const (
	// defaultListenAddress is vramfit's port: 9400 is dcgm-exporter's and
	// 9835 nvidia_gpu_exporter's.
	defaultListenAddress = ":9847"
	// handlerGrace is how much longer than --scrape.timeout the metrics
	// handler waits before answering 503: enough to serve a scrape whose
	// GPU reading was abandoned at the timeout.
	handlerGrace = time.Second
	// shutdownTimeout bounds how long requests in flight may finish.
	shutdownTimeout = 5 * time.Second
	// maxRequestHeaderBytes bounds a request's line and headers.
	maxRequestHeaderBytes = 32 << 10
)

// serveFlags are the flags of `vramfit serve`.
type serveFlags struct {
	web                    *web.FlagConfig
	metricsPath            string
	maxRequests            int
	disableExporterMetrics bool
	enableLifecycle        bool
	configFile             string
	nvmlFake               string
	nvmlLibraryPath        string
	scrapeTimeout          time.Duration
	holders                holderFlags
}

func newServeCommand(app *kingpin.Application) command {
	clause := app.Command("serve", "Run the exporter (the default command).").Default()
	f := &serveFlags{web: kingpinflag.AddFlags(clause, defaultListenAddress)}
	clause.Flag("web.telemetry-path", "Path under which to expose metrics.").
		Default("/metrics").StringVar(&f.metricsPath)
	clause.Flag("web.max-requests", "Requests that do work served at once, /metrics, the status page and /api/v1/ together; more get 503 at once. 0 means no limit.").
		Default("40").IntVar(&f.maxRequests)
	clause.Flag("web.disable-exporter-metrics", "Exclude metrics about the exporter itself (promhttp_*, process_*, go_*).").
		BoolVar(&f.disableExporterMetrics)
	clause.Flag("web.enable-lifecycle", "Enable POST /-/reload, which reloads the targets file (SIGHUP always does).").
		BoolVar(&f.enableLifecycle)
	clause.Flag("config.file", "Targets file (YAML): the models planned for this host. Without it only the GPUs are exported.").
		PlaceHolder("FILE").StringVar(&f.configFile)
	clause.Flag("nvml.fake", "Serve a fake fleet instead of the real GPUs: a built-in fleet ("+strings.Join(nvml.Fleets(), ", ")+") or a fleet file.").
		PlaceHolder("NAME|FILE").StringVar(&f.nvmlFake)
	clause.Flag("nvml.library-path", "Load NVML from this file instead of the system's libnvidia-ml.so.1.").
		PlaceHolder("FILE").StringVar(&f.nvmlLibraryPath)
	clause.Flag("scrape.timeout", "How long a scrape waits for the GPUs' readings; after it the scrape is served without them. Keep it under Prometheus' scrape_timeout.").
		Default("8s").DurationVar(&f.scrapeTimeout)
	f.holders.register(clause, "Export", true)
	return command{clause: clause, run: f.run}
}

func (f *serveFlags) run(e env) int {
	if err := f.check(); err != nil {
		fmt.Fprintf(e.stderr, "%s serve: %v\n", programName, err)
		return 2
	}
	// The signals are caught before anything slow: loading 10,000 targets
	// takes seconds, and an uncaught SIGHUP (systemd's ExecReload) would end
	// the process. A SIGHUP meanwhile reloads once the server runs; SIGTERM
	// stops the load.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	e.logger.Info("starting vramfit", "version", version.Info())
	e.logger.Info("build context", "build_context", version.BuildContext())
	setMemoryLimit("/", e.logger)
	// Files read by code that does not check their type (exporter-toolkit
	// reads the web configuration at every request) would wait on a FIFO
	// for ever.
	if err := refuseNotRegular("--web.config.file", *f.web.WebConfigFile, "the YAML web configuration"); err != nil {
		fmt.Fprintf(e.stderr, "%s serve: %v\n", programName, err)
		return 1
	}
	if !slices.Contains(nvml.Fleets(), f.nvmlFake) {
		if err := refuseNotRegular("--nvml.fake", f.nvmlFake, "a built-in fleet or a fleet file"); err != nil {
			fmt.Fprintf(e.stderr, "%s serve: %v\n", programName, err)
			return 1
		}
	}
	if path := *f.web.WebConfigFile; path != "" {
		if err := web.Validate(path); err != nil {
			fmt.Fprintf(e.stderr, "%s serve: --web.config.file %s: %v\n", programName, path, err)
			return 1
		}
	}
	store := collector.NewTargetStore(f.configFile, e.logger)
	if _, err := store.ReloadContext(ctx); err != nil {
		if ctx.Err() != nil {
			e.logger.Info("stopped while loading the targets file")
			return 0
		}
		fmt.Fprintf(e.stderr, "%s serve: %v\n", programName, err)
		return 1
	}
	if f.configFile == "" {
		e.logger.Info("no --config.file: exporting the GPUs without targets")
	}
	backend, err := nvml.Open(nvml.Config{Fake: f.nvmlFake, LibraryPath: f.nvmlLibraryPath, Processes: f.holders.processes}, e.logger)
	if err != nil {
		fmt.Fprintf(e.stderr, "%s serve: %v\n", programName, err)
		return 1
	}
	return f.serve(ctx, e.logger, store, backend, hup)
}

// refuseNotRegular refuses a file given by flag that exists and is not a
// regular file. It looks at the name only, which never blocks.
func refuseNotRegular(flag, path, want string) error {
	if path == "" {
		return nil
	}
	if info, err := os.Stat(path); err == nil && !info.Mode().IsRegular() {
		return fmt.Errorf("%s %s: not a regular file; want %s", flag, path, want)
	}
	return nil
}

// metricsPathPattern keeps the telemetry path a plain path, which the
// HTTP mux takes literally.
var metricsPathPattern = regexp.MustCompile(`^/[A-Za-z0-9._~/-]*$`)

// check refuses flag values the server cannot run with.
func (f *serveFlags) check() error {
	switch {
	case !metricsPathPattern.MatchString(f.metricsPath):
		return fmt.Errorf("--web.telemetry-path %q: want a path such as /metrics (letters, digits, and . _ ~ / -)", f.metricsPath)
	case f.metricsPath == "/" || strings.HasPrefix(f.metricsPath, "/api/") || strings.HasPrefix(f.metricsPath, "/-/"):
		return fmt.Errorf("--web.telemetry-path %q is taken by the status page, the API or the lifecycle endpoints; use a path such as /metrics", f.metricsPath)
	case f.maxRequests < 0:
		return fmt.Errorf("--web.max-requests %d: want 0 (no limit) or more", f.maxRequests)
	case f.scrapeTimeout <= 0:
		return fmt.Errorf("--scrape.timeout %s: want a duration above 0, such as 8s", f.scrapeTimeout)
	}
	if err := f.holders.check(); err != nil {
		return err
	}
	if f.web == nil || *f.web.WebSystemdSocket {
		return nil // systemd hands over the listeners
	}
	for _, addr := range *f.web.WebListenAddresses {
		if err := checkListenAddress(addr); err != nil {
			return err
		}
	}
	return nil
}

// checkListenAddress refuses an address the listener would take another
// way than meant (an empty one listens on a random port) or reject only once
// the targets and NVML are loaded. vsock:// addresses are the toolkit's.
func checkListenAddress(addr string) error {
	const valid = "want host:port such as :9847, 127.0.0.1:9847 or [::1]:9847"
	if strings.HasPrefix(addr, "vsock://") {
		return nil
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		var addrErr *net.AddrError
		if errors.As(err, &addrErr) {
			err = errors.New(addrErr.Err)
		}
		return fmt.Errorf("--web.listen-address %q: %v; %s", addr, err, valid)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("--web.listen-address %q: port %q is not a number from 0 to 65535; %s", addr, port, valid)
	}
	return nil
}

// serve runs the HTTP server until ctx ends, reloading the targets on each
// signal from hup, and closes backend once before it returns.
func (f *serveFlags) serve(ctx context.Context, logger *slog.Logger, store *collector.TargetStore, backend nvml.Backend, hup <-chan os.Signal) int {
	defer func() {
		if err := backend.Close(); err != nil {
			logger.Warn("closing NVML", "err", err)
		}
	}()
	c := collector.New(backend, store, f.scrapeTimeout, logger, f.holders.options(f.scrapeTimeout, logger)...)
	// The plan and the series of the targets are built before the server
	// is ready, not by its first scrape.
	c.Warm()
	srv := &http.Server{
		Handler:           f.newMux(c, store, logger),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		// The server reads MaxHeaderBytes plus 4 KiB of slack: the request
		// line and headers together are bounded to 32 KiB.
		MaxHeaderBytes: maxRequestHeaderBytes - 4<<10,
		ErrorLog:       slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- web.ListenAndServe(srv, f.web, logger) }()

	// Reloads run apart from this loop, so that a slow one never delays
	// SIGTERM; signals that come during a reload make one more, not one
	// each.
	reloads, reloaderDone := make(chan struct{}, 1), make(chan struct{})
	go func() {
		defer close(reloaderDone)
		for range reloads {
			_, _ = store.Reload() // the store logs the outcome
		}
	}()
	for {
		select {
		case <-hup:
			select {
			case reloads <- struct{}{}:
			default: // one is already due, and it reads the file as it is then
			}
		case err := <-served:
			close(reloads)
			logger.Error("the HTTP server stopped", "err", err)
			return 1
		case <-ctx.Done():
			logger.Info("shutting down")
			shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
			defer cancel()
			if err := srv.Shutdown(shutdownCtx); err != nil {
				logger.Warn("requests still in flight at shutdown", "err", err)
			}
			if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
				logger.Warn("the HTTP server stopped", "err", err)
			}
			// A reload under way finishes (and logs) within the same
			// deadline, or is left behind.
			close(reloads)
			select {
			case <-reloaderDone:
			case <-shutdownCtx.Done():
				logger.Warn("a reload of the targets file is still running at exit")
			}
			return 0
		}
	}
}

// newMux routes the exporter's endpoints: the metrics, the status page,
// the JSON API, and the lifecycle endpoints. The endpoints that do work
// share one bound on the requests in flight; every path answers 405 with
// Allow to a method it does not serve.
func (f *serveFlags) newMux(c *collector.Collector, store *collector.TargetStore, logger *slog.Logger) *http.ServeMux {
	// One registry: merging two (prometheus.Gatherers) checks every series
	// again, a quarter of a scrape's CPU.
	reg := prometheus.NewRegistry()
	reg.MustRegister(versioncollector.NewCollector(programName), c, store)
	gate := collector.NewGate(f.maxRequests)
	metrics := gate.Wrap(collector.MetricsHandler(reg, f.scrapeTimeout+handlerGrace, logger))
	if !f.disableExporterMetrics {
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		metrics = promhttp.InstrumentMetricHandler(reg, metrics)
	}

	mux := http.NewServeMux()
	mux.Handle("GET "+f.metricsPath, metrics)
	mux.Handle("GET /{$}", gate.Wrap(c.StatusHandler(f.metricsPath)))
	mux.Handle("GET /api/v1/targets", gate.Wrap(c.TargetsHandler()))
	mux.Handle("GET /api/v1/inventory", gate.Wrap(c.InventoryHandler()))
	// A browser's cross-site request (a form posted from another site)
	// cannot reload: the reload changes what the agent serves.
	mux.Handle("/-/reload", http.NewCrossOriginProtection().Handler(collector.ReloadHandler(store, f.enableLifecycle)))
	mux.HandleFunc("GET /-/healthy", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "Healthy\n")
	})
	mux.HandleFunc("GET /-/ready", func(w http.ResponseWriter, _ *http.Request) {
		if !store.Ready() {
			http.Error(w, "Not ready: the targets file is not loaded.", http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "Ready\n")
	})
	return mux
}

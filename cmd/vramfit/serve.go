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
	clause.Flag("web.max-requests", "Maximum number of parallel scrape requests; 0 means no limit.").
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
	e.logger.Info("starting vramfit", "version", version.Info())
	e.logger.Info("build context", "build_context", version.BuildContext())
	if path := *f.web.WebConfigFile; path != "" {
		if err := web.Validate(path); err != nil {
			fmt.Fprintf(e.stderr, "%s serve: --web.config.file %s: %v\n", programName, path, err)
			return 1
		}
	}
	store := collector.NewTargetStore(f.configFile, e.logger)
	if _, err := store.Reload(); err != nil {
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
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return f.serve(ctx, e.logger, store, backend)
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

// serve runs the HTTP server until ctx ends, reloading the targets on
// SIGHUP, and closes backend once before it returns.
func (f *serveFlags) serve(ctx context.Context, logger *slog.Logger, store *collector.TargetStore, backend nvml.Backend) int {
	defer func() {
		if err := backend.Close(); err != nil {
			logger.Warn("closing NVML", "err", err)
		}
	}()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	srv := &http.Server{
		Handler:           f.newMux(collector.New(backend, store, f.scrapeTimeout, logger, f.holders.options(f.scrapeTimeout, logger)...), store, logger),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- web.ListenAndServe(srv, f.web, logger) }()
	for {
		select {
		case <-hup:
			_, _ = store.Reload() // the store logs the outcome
		case err := <-served:
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
			return 0
		}
	}
}

// metricsHandlerOpts are the options of the /metrics handler: a failed
// collector does not fail the scrape, and scrapes are bounded in number and
// time.
func (f *serveFlags) metricsHandlerOpts(logger *slog.Logger) promhttp.HandlerOpts {
	return promhttp.HandlerOpts{
		ErrorLog:            slog.NewLogLogger(logger.Handler(), slog.LevelError),
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: f.maxRequests,
		Timeout:             f.scrapeTimeout + handlerGrace,
	}
}

// newMux routes the exporter's endpoints: the metrics, the status page,
// the JSON API, and the lifecycle endpoints.
func (f *serveFlags) newMux(c *collector.Collector, store *collector.TargetStore, logger *slog.Logger) *http.ServeMux {
	data := prometheus.NewRegistry()
	data.MustRegister(versioncollector.NewCollector(programName), c, store)
	gatherers := prometheus.Gatherers{data}
	opts := f.metricsHandlerOpts(logger)
	var metrics http.Handler
	if f.disableExporterMetrics {
		metrics = promhttp.HandlerFor(gatherers, opts)
	} else {
		self := prometheus.NewRegistry()
		self.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		opts.Registry = self
		metrics = promhttp.InstrumentMetricHandler(self, promhttp.HandlerFor(append(gatherers, self), opts))
	}

	mux := http.NewServeMux()
	mux.Handle(f.metricsPath, metrics)
	mux.Handle("GET /{$}", c.StatusHandler(f.metricsPath))
	mux.Handle("GET /api/v1/targets", c.TargetsHandler())
	mux.Handle("GET /api/v1/inventory", c.InventoryHandler())
	mux.Handle("/-/reload", collector.ReloadHandler(store, f.enableLifecycle))
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

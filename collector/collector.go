// Package collector is the exporter's core: it reads the GPUs at each
// scrape, places the planned targets on them and exports the answers as
// Prometheus metrics, a status page and a JSON API. The targets' memory
// requirements are computed when the targets file loads, never per scrape.
package collector

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"

	"github.com/vramfit/vramfit/estimator"
	"github.com/vramfit/vramfit/nvml"
)

const namespace = "vramfit"

// The collectors of vramfit_scrape_collector_*.
const (
	nvmlCollector    = "nvml"
	targetsCollector = "targets"
)

var (
	scrapeSuccessDesc = prometheus.NewDesc(
		prometheus.BuildFQName(namespace, "scrape", "collector_success"),
		"Whether a collector succeeded at this scrape: nvml reads the GPUs, targets places the targets on them (0 while no GPU can be read: the targets' verdicts are missing), processes and pods (when turned on) list who holds the GPUs.",
		[]string{"collector"}, nil)
	scrapeDurationDesc = prometheus.NewDesc(
		prometheus.BuildFQName(namespace, "scrape", "collector_duration_seconds"),
		"How long a collector took at this scrape.",
		[]string{"collector"}, nil)
)

// Collector exports the GPUs of a host and the fit of the targets on them.
type Collector struct {
	backend nvml.Backend
	store   *TargetStore
	timeout time.Duration
	logger  *slog.Logger

	mu sync.Mutex
	// lastError is each collector's last error ("" for none), logged
	// already.
	lastError map[string]string
	// down holds the UUIDs of the devices last seen down, logged already.
	down map[string]bool

	// The series of the devices and targets last exported: rebuilt only
	// when the devices, the targets or their plan change.
	gpuMetrics    atomic.Pointer[gpuMetrics]
	targetMetrics atomic.Pointer[targetMetrics]
	// The last plan's targets grouped by memory cap.
	capacityClasses atomic.Pointer[capacityClasses]

	// renders shares the rendering of the status page and the JSON API
	// among concurrent requests.
	renders singleflight.Group

	// The opt-in collectors; nil when off.
	processes *processCollector
	pods      *podCollector
}

// Option turns on an opt-in collector.
type Option func(*Collector)

// WithProcesses exports the processes holding each device's memory, the
// top of each device by memory and the rest summed. The backend must list
// them (nvml.Config.Processes).
func WithProcesses(top int) Option {
	return func(c *Collector) { c.processes = &processCollector{top: top} }
}

// WithPods exports the kubelet's allocations of the GPUs.
func WithPods(lister PodLister) Option {
	return func(c *Collector) { c.pods = &podCollector{lister: lister, timeout: c.timeout} }
}

var _ prometheus.Collector = (*Collector)(nil)

// New returns a collector reading backend and placing store's targets. A
// reading of the GPUs that takes longer than timeout is abandoned: that
// scrape is served without the GPUs. Each later load of store's targets
// warms the collector (see Warm) before the load returns.
func New(backend nvml.Backend, store *TargetStore, timeout time.Duration, logger *slog.Logger, opts ...Option) *Collector {
	c := &Collector{backend: backend, store: store, timeout: timeout, logger: logger, lastError: map[string]string{}, down: map[string]bool{}}
	for _, opt := range opts {
		opt(c)
	}
	store.OnLoad(c.Warm)
	return c
}

// Warm reads the devices and builds what a scrape of them needs: the plan
// of the targets loaded on these GPUs, their placements and every series.
// Done at start and after each reload, it spares the first scrape that
// work, and /-/ready answers once it is done.
func (c *Collector) Warm() {
	s, err := c.readDevices()
	if err == nil {
		c.gpuMetricsFor(s)
	}
	c.targetMetricsFor(c.placeTargets(s))
}

// Describe implements prometheus.Collector with every family the collector
// can export, whatever the GPUs and targets.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range gpuDescs {
		ch <- d
	}
	for _, d := range targetDescs {
		ch <- d
	}
	ch <- scrapeSuccessDesc
	ch <- scrapeDurationDesc
	if c.processes != nil {
		ch <- gpuProcessMemoryDesc
	}
	if c.pods != nil {
		ch <- gpuAllocationDesc
	}
}

// Collect implements prometheus.Collector: one reading of the GPUs, who
// holds them where those collectors are on (the kubelet asked beside the
// reading), then the targets placed on them. Each may fail alone.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	pods := c.askPods()
	start := time.Now()
	snapshot, err := c.readDevices()
	if err == nil {
		collectGPUs(ch, snapshot, c.gpuMetricsFor(snapshot))
	}
	collectScrape(ch, nvmlCollector, start, err)
	c.collectHolders(ch, snapshot, err, pods)

	start = time.Now()
	v := c.placeTargets(snapshot)
	collectTargets(ch, v, c.targetMetricsFor(v))
	// Without GPUs to place them on, the targets' verdicts (fits,
	// headroom, GPUs required, max_batch) are missing from this scrape.
	var placed error
	if v.plan == nil {
		placed = errNotPlaced
	}
	collectScrape(ch, targetsCollector, start, placed)
}

// errNotPlaced says that no GPU could be read to place the targets on.
var errNotPlaced = errors.New("no GPU to place the targets on")

// gpuMetricsFor returns the series of s's devices, built anew only when
// the devices differ from the last scrape's.
func (c *Collector) gpuMetricsFor(s nvml.Snapshot) *gpuMetrics {
	if m := c.gpuMetrics.Load(); m.matches(s) {
		return m
	}
	m := newGPUMetrics(s)
	c.gpuMetrics.Store(m)
	return m
}

// capacityClassesFor returns the capacity classes of p, grouped anew only
// for a new plan.
func (c *Collector) capacityClassesFor(p *plan) *capacityClasses {
	if cc := c.capacityClasses.Load(); cc != nil && cc.plan == p {
		return cc
	}
	cc := newCapacityClasses(p)
	c.capacityClasses.Store(cc)
	return cc
}

// targetMetricsFor returns the series of v's targets and plan, built anew
// only after a reload or a new plan.
func (c *Collector) targetMetricsFor(v view) *targetMetrics {
	if m := c.targetMetrics.Load(); m.matches(v) {
		return m
	}
	m := newTargetMetrics(v)
	c.targetMetrics.Store(m)
	return m
}

// view is one look at the host: its devices and every target placed on
// them. Scrapes, the status page and the JSON API each build one.
type view struct {
	snapshot nvml.Snapshot
	nvmlErr  error
	targets  *Targets
	// plan and placements are nil when no device has been seen up yet,
	// or NVML cannot be read now.
	plan       *plan
	placements []placement
	// together is whether all the targets fit at once.
	together together
}

// need is what target i needs on each GPU: on this host's GPU model once
// there is a plan, else in the target's own layout.
func (v view) need(i int) estimator.Components {
	if v.plan != nil {
		return v.plan.entries[i].fit.PerGPU
	}
	return v.targets.targets[i].est.Requirement().Components
}

// look reads the devices and places the targets.
func (c *Collector) look() view {
	snapshot, err := c.readDevices()
	v := c.placeTargets(snapshot)
	v.nvmlErr = err
	return v
}

// readDevices takes one snapshot, bounded by the scrape timeout; the
// backend shares it with concurrent callers.
func (c *Collector) readDevices() (nvml.Snapshot, error) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	s, err := c.backend.Snapshot(ctx)
	c.noteNVML(err)
	if err == nil {
		c.noteDevices(s.Devices)
	}
	return s, err
}

// noteDevices logs when a device goes down (lost, unreadable) and when it
// answers again, once each: vramfit_gpu_up says so at every scrape, the
// log says when and why.
func (c *Collector) noteDevices(devices []nvml.Device) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, d := range devices {
		switch {
		case d.Err != nil && !c.down[d.UUID]:
			c.down[d.UUID] = true
			c.logger.Warn("a GPU is down; its memory is left out until it answers again", "gpu", d.Index, "uuid", d.UUID, "err", d.Err)
		case d.Err == nil && c.down[d.UUID]:
			delete(c.down, d.UUID)
			c.logger.Info("a GPU answers again", "gpu", d.Index, "uuid", d.UUID)
		}
	}
	// A device gone from the list (MIG instances reconfigured) is
	// forgotten, so that the map holds the devices listed now only.
	for uuid := range c.down {
		if !slices.ContainsFunc(devices, func(d nvml.Device) bool { return d.UUID == uuid }) {
			delete(c.down, uuid)
		}
	}
}

// noteNVML logs when reading the GPUs starts or stops failing, or fails
// differently, rather than at every scrape.
func (c *Collector) noteNVML(err error) {
	if !c.changed(nvmlCollector, err) {
		return
	}
	if err != nil {
		c.logger.Warn("cannot read the GPUs; exporting the targets' requirements without them", "err", err)
	} else {
		c.logger.Info("reading the GPUs again")
	}
}

// changed records err as collector's last error and reports whether it
// differs from the one before: the collector started or stopped failing,
// or fails differently.
func (c *Collector) changed(collector string, err error) bool {
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	prev := c.lastError[collector]
	c.lastError[collector] = msg
	return msg != prev
}

// placeTargets places every target on the snapshot's devices, with the
// plan of the devices' sizes (computed only when they change).
func (c *Collector) placeTargets(s nvml.Snapshot) view {
	v := view{snapshot: s, targets: c.store.Targets()}
	if v.targets == nil {
		v.targets = &Targets{}
	}
	cands, sizes := candidates(s.Devices)
	switch {
	case len(cands) > 0:
		v.plan = c.store.planFor(v.targets, sizes)
	case len(s.Devices) > 0:
		// Every device is down: the GPUs last seen are still installed,
		// so the targets are placed with their plan, on no device.
		v.plan = c.store.lastPlan(v.targets)
	}
	if v.plan == nil {
		return v
	}
	v.placeAll(c.capacityClassesFor(v.plan), cands)
	return v
}

// scrapeSeries are the series of vramfit_scrape_collector_*, by collector.
var scrapeSeries = map[string]struct{ duration, success *series }{
	nvmlCollector:      {newSeries(scrapeDurationDesc, nvmlCollector), newSeries(scrapeSuccessDesc, nvmlCollector)},
	targetsCollector:   {newSeries(scrapeDurationDesc, targetsCollector), newSeries(scrapeSuccessDesc, targetsCollector)},
	processesCollector: {newSeries(scrapeDurationDesc, processesCollector), newSeries(scrapeSuccessDesc, processesCollector)},
	podsCollector:      {newSeries(scrapeDurationDesc, podsCollector), newSeries(scrapeSuccessDesc, podsCollector)},
}

func collectScrape(ch chan<- prometheus.Metric, name string, start time.Time, err error) {
	collectScrapeTook(ch, name, time.Since(start), err)
}

func collectScrapeTook(ch chan<- prometheus.Metric, name string, took time.Duration, err error) {
	s, b := scrapeSeries[name], newGaugeSamples(2)
	ch <- b.add(s.duration, took.Seconds())
	ch <- b.add(s.success, boolValue(err == nil))
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

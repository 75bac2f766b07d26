package collector

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vramfit/vramfit/estimator/targetsfile"
)

var (
	reloadSuccessDesc = prometheus.NewDesc(
		prometheus.BuildFQName(namespace, "config", "last_reload_successful"),
		"Whether the last reload of the targets file succeeded (1) or failed and kept the previous targets (0).",
		nil, nil)
	reloadTimestampDesc = prometheus.NewDesc(
		prometheus.BuildFQName(namespace, "config", "last_reload_success_timestamp_seconds"),
		"Time of the last successful reload of the targets file, in seconds since the Unix epoch.",
		nil, nil)
)

// TargetStore holds the targets of one file and their plans. Reads never
// block: a reload builds new immutable state and swaps it in, and a failed
// reload keeps the old. Reloads, from SIGHUP or HTTP, run one at a time.
type TargetStore struct {
	path   string
	logger *slog.Logger

	// reloading holds the one reload allowed at a time; a caller waits
	// for it only as long as its context allows.
	reloading   chan struct{}
	loaded      atomic.Pointer[func()] // run after new targets are swapped in
	targets     atomic.Pointer[Targets]
	lastOK      atomic.Bool
	lastSuccess atomic.Int64 // Unix nanoseconds
	lastFailure atomic.Pointer[reloadFailure]

	planning sync.Mutex
	plan     atomic.Pointer[plan]

	// work counts the estimator calls made so far: estimates at load,
	// placements when the devices change, max_batch searches when the
	// memory free changes. Tests read it to prove scrapes do none else.
	work atomic.Uint64
}

var _ prometheus.Collector = (*TargetStore)(nil)

// NewTargetStore returns a store for the targets file at path, not loaded
// yet: call Reload. An empty path means no targets file: no targets.
func NewTargetStore(path string, logger *slog.Logger) *TargetStore {
	return &TargetStore{path: path, logger: logger, reloading: make(chan struct{}, 1)}
}

// Reload reads the targets file (again). An unchanged file (same SHA-256)
// is a no-op; a bad one keeps the targets loaded before and is the error.
// changed reports whether new targets were swapped in. Reloads are logged;
// the first load's failure is left to the caller.
func (s *TargetStore) Reload() (changed bool, err error) {
	return s.ReloadContext(context.Background())
}

// ReloadContext is Reload bounded by ctx: it waits for a reload already
// running, and then for its own, only until ctx ends. A reload it started
// goes on after that, holding the turn of later ones, and its outcome is
// logged and exported as any reload's.
func (s *TargetStore) ReloadContext(ctx context.Context) (changed bool, err error) {
	select {
	case s.reloading <- struct{}{}:
	case <-ctx.Done():
		return false, fmt.Errorf("another reload of the targets file is still running: %w", ctx.Err())
	}
	type result struct {
		changed bool
		err     error
	}
	done := make(chan result, 1)
	go func() {
		defer func() { <-s.reloading }()
		changed, err := s.reloadLogged()
		done <- result{changed, err}
	}()
	select {
	case r := <-done:
		return r.changed, r.err
	case <-ctx.Done():
		return false, fmt.Errorf("the reload of the targets file has not finished; it goes on: %w", ctx.Err())
	}
}

// OnLoad sets f to run after each load that swaps new targets in, before
// the load returns: the collector builds their plan and series then, not
// at the first scrape.
func (s *TargetStore) OnLoad(f func()) { s.loaded.Store(&f) }

func (s *TargetStore) reloadLogged() (changed bool, err error) {
	loaded := s.targets.Load() != nil
	failing := loaded && !s.lastOK.Load()
	changed, err = s.reload()
	s.lastOK.Store(err == nil)
	s.noteReload(err)
	switch {
	case err != nil && loaded:
		s.logger.Error("reloading the targets file failed; keeping the targets loaded before", "file", s.path, "err", err)
		return false, err
	case err != nil:
		return false, err // the first load: the caller reports it
	case changed && s.path == "":
		// No targets file: serve says so itself; nothing was loaded.
	case changed:
		s.logger.Info("loaded the targets file", "file", s.path, "targets", s.Targets().Len())
	case failing:
		// The file is back to the targets in use: the failure logged
		// before is over, and the log says so.
		s.logger.Info("the targets file loads again, unchanged since it last loaded", "file", s.path, "targets", s.Targets().Len())
	default:
		s.logger.Debug("the targets file is unchanged", "file", s.path)
	}
	s.lastSuccess.Store(time.Now().UnixNano())
	return changed, nil
}

func (s *TargetStore) reload() (changed bool, err error) {
	if s.path == "" {
		if s.targets.Load() != nil {
			return false, nil
		}
		s.swap(&Targets{})
		return true, nil
	}
	data, err := targetsfile.Read(s.path)
	if err != nil {
		return false, err
	}
	if cur := s.targets.Load(); cur != nil && cur.checksum == sha256.Sum256(data) {
		return false, nil
	}
	set, err := newTargets(s.path, data, &s.work)
	if err != nil {
		return false, err
	}
	s.swap(set)
	return true, nil
}

// swap installs set and, when the devices are already known, plans it on
// them at once, so that the next scrape finds the work done.
func (s *TargetStore) swap(set *Targets) {
	s.targets.Store(set)
	if f := s.loaded.Load(); f != nil {
		(*f)()
		return
	}
	s.lastPlan(set)
}

// Ready reports whether targets are loaded.
func (s *TargetStore) Ready() bool { return s.targets.Load() != nil }

// Targets returns the targets loaded now, or nil before the first load.
func (s *TargetStore) Targets() *Targets { return s.targets.Load() }

// planFor returns the plan of set on devices of these sizes, computing it
// only when either differs from the last plan's.
func (s *TargetStore) planFor(set *Targets, sizes []deviceSize) *plan {
	if p := s.plan.Load(); p.matches(set, sizes) {
		return p
	}
	s.planning.Lock()
	defer s.planning.Unlock()
	if p := s.plan.Load(); p.matches(set, sizes) {
		return p
	}
	p := newPlan(set, sizes, &s.work)
	s.plan.Store(p)
	return p
}

// lastPlan returns the plan of set on the device sizes last seen, or nil
// when no device has been seen.
func (s *TargetStore) lastPlan(set *Targets) *plan {
	p := s.plan.Load()
	if p == nil {
		return nil
	}
	return s.planFor(set, p.sizes)
}

// Describe implements prometheus.Collector.
func (s *TargetStore) Describe(ch chan<- *prometheus.Desc) {
	ch <- reloadSuccessDesc
	ch <- reloadTimestampDesc
}

// Collect implements prometheus.Collector.
func (s *TargetStore) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(reloadSuccessDesc, prometheus.GaugeValue, boolValue(s.lastOK.Load()))
	ch <- prometheus.MustNewConstMetric(reloadTimestampDesc, prometheus.GaugeValue,
		float64(s.lastSuccess.Load())/float64(time.Second))
}

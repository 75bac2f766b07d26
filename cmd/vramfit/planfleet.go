package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/vramfit/vramfit/nvml"
)

// host is an agent's GPU inventory as Prometheus holds it.
type host struct {
	job, instance string
	devices       []nvml.Device
}

// staleHost is an agent left out of the plan, and why.
type staleHost struct {
	Job      string `json:"job"`
	Instance string `json:"instance"`
	Reason   string `json:"reason"`
}

// fleet is every agent Prometheus knows: those whose data is current, and
// the stale ones.
type fleet struct {
	hosts []host
	stale []staleHost
}

// fleetQuery reads a fleet from Prometheus at one moment.
type fleetQuery struct {
	api v1.API
	// url names Prometheus in errors.
	url string
	// selector holds the label matchers every query carries, without braces.
	selector string
	// lookback is how far back an agent counts as part of the fleet.
	lookback time.Duration
	// maxAge is the oldest sample the plan uses.
	maxAge time.Duration
	// at is the moment queried.
	at time.Time
	// warn receives Prometheus's warnings.
	warn func(string)
}

// maxNamedStale bounds the stale agents an error names: the line stays
// readable on a large fleet.
const maxNamedStale = 10

// hostKey identifies an agent: Prometheus's job and instance labels.
type hostKey struct{ job, instance string }

func keyOf(m model.Metric) hostKey {
	return hostKey{string(m[model.JobLabel]), string(m[model.InstanceLabel])}
}

// read queries the fleet. Agents are the instances that exported
// vramfit_build_info within the lookback; one is stale when its last
// scrape failed (up 0), Prometheus no longer scrapes it, it exports no
// GPU, or its oldest GPU sample is older than maxAge.
func (q *fleetQuery) read(ctx context.Context) (*fleet, error) {
	members, err := q.vector(ctx, fmt.Sprintf("group by (job, instance) (last_over_time(vramfit_build_info{%s}[%s]))",
		q.selector, model.Duration(q.lookback)))
	if err != nil {
		return nil, err
	}
	if len(members) == 0 {
		return nil, fmt.Errorf("no vramfit agent matches {%s} in the last %s on the Prometheus at %s (vramfit_build_info is empty): "+
			"check --prometheus.selector and that Prometheus scrapes the agents", q.selector, model.Duration(q.lookback), q.url)
	}
	byName := map[string]model.Vector{}
	for _, name := range []string{"up", "vramfit_gpu_info", "vramfit_gpu_up", "vramfit_gpu_memory_total_bytes",
		"vramfit_gpu_memory_used_bytes", "vramfit_gpu_memory_free_bytes", "vramfit_gpu_memory_reserved_bytes"} {
		if byName[name], err = q.vector(ctx, fmt.Sprintf("%s{%s}", name, q.selector)); err != nil {
			return nil, err
		}
	}
	stamps, err := q.vector(ctx, fmt.Sprintf("timestamp(vramfit_gpu_up{%s})", q.selector))
	if err != nil {
		return nil, err
	}

	up := map[hostKey]float64{}
	for _, s := range byName["up"] {
		up[keyOf(s.Metric)] = float64(s.Value)
	}
	// oldest is each agent's oldest GPU sample (one scrape stamps them all).
	oldest := map[hostKey]time.Time{}
	for _, s := range stamps {
		k, t := keyOf(s.Metric), time.Unix(0, int64(float64(s.Value)*float64(time.Second)))
		if o, ok := oldest[k]; !ok || t.Before(o) {
			oldest[k] = t
		}
	}
	devices := q.devices(byName)

	f := &fleet{}
	for _, m := range members {
		k := keyOf(m.Metric)
		reason := ""
		value, scraped := up[k]
		switch {
		case !scraped:
			reason = "Prometheus no longer scrapes it (no up series)"
		case value == 0:
			reason = "its last scrape failed (up is 0)"
		case len(devices[k]) == 0:
			reason = `it exports no GPU (see vramfit_scrape_collector_success{collector="nvml"} and its log)`
		case q.at.Sub(oldest[k]) > q.maxAge:
			reason = fmt.Sprintf("its GPU samples are %s old, older than --prometheus.max-age=%s",
				q.at.Sub(oldest[k]).Round(time.Second), model.Duration(q.maxAge))
		}
		if reason != "" {
			f.stale = append(f.stale, staleHost{Job: k.job, Instance: k.instance, Reason: reason})
			continue
		}
		f.hosts = append(f.hosts, host{job: k.job, instance: k.instance, devices: devices[k]})
	}
	slices.SortFunc(f.hosts, func(a, b host) int { return cmp.Or(cmp.Compare(a.instance, b.instance), cmp.Compare(a.job, b.job)) })
	slices.SortFunc(f.stale, func(a, b staleHost) int {
		return cmp.Or(cmp.Compare(a.Instance, b.Instance), cmp.Compare(a.Job, b.Job))
	})
	if len(f.hosts) == 0 {
		var reasons []string
		for i, s := range f.stale {
			if i == maxNamedStale {
				reasons = append(reasons, fmt.Sprintf("and %d more", len(f.stale)-i))
				break
			}
			reasons = append(reasons, s.Instance+": "+s.Reason)
		}
		return nil, fmt.Errorf("no agent of the Prometheus at %s has current GPU data: %s", q.url, strings.Join(reasons, "; "))
	}
	return f, nil
}

// devices rebuilds each agent's devices from the series of its GPUs, in the
// order NVML lists them: each GPU by index, followed by its MIG instances.
// A device whose vramfit_gpu_up is 0, or whose memory is missing, is down.
func (q *fleetQuery) devices(byName map[string]model.Vector) map[hostKey][]nvml.Device {
	type deviceKey struct {
		hostKey
		uuid string
	}
	values := func(name string) map[deviceKey]uint64 {
		out := map[deviceKey]uint64{}
		for _, s := range byName[name] {
			out[deviceKey{keyOf(s.Metric), string(s.Metric["uuid"])}] = byteCount(float64(s.Value))
		}
		return out
	}
	gpuUp, total := values("vramfit_gpu_up"), values("vramfit_gpu_memory_total_bytes")
	used, free := values("vramfit_gpu_memory_used_bytes"), values("vramfit_gpu_memory_free_bytes")
	reserved := values("vramfit_gpu_memory_reserved_bytes")

	out := map[hostKey][]nvml.Device{}
	for _, s := range byName["vramfit_gpu_info"] {
		m := s.Metric
		k := deviceKey{keyOf(m), string(m["uuid"])}
		index, err := strconv.Atoi(string(m["gpu"]))
		if err != nil {
			index = -1
		}
		d := nvml.Device{
			Index: index, UUID: k.uuid, Name: string(m["name"]), PCIBusID: string(m["pci_bus_id"]),
			ComputeCapability: string(m["compute_capability"]), MIGMode: string(m["mig_mode"]),
			ParentUUID: string(m["parent_uuid"]), MIGProfile: string(m["mig_profile"]),
		}
		t, hasTotal := total[k]
		f, hasFree := free[k]
		switch {
		case gpuUp[k] == 0:
			d.Err = errors.New("down: vramfit_gpu_up is 0")
		case !hasTotal || !hasFree:
			d.Err = errors.New("its memory series are missing")
		case reserved[k] > t:
			d.Err = errors.New("it reports more memory reserved than in total")
		}
		d.Memory = nvml.Memory{Total: t, Used: used[k], Free: f}
		d.Memory.Reserved, d.Memory.HasReserved = reserved[k]
		out[k.hostKey] = append(out[k.hostKey], d)
	}
	for _, devs := range out {
		slices.SortFunc(devs, func(a, b nvml.Device) int {
			return cmp.Or(cmp.Compare(a.Index, b.Index), cmp.Compare(a.ParentUUID, b.ParentUUID), cmp.Compare(a.UUID, b.UUID))
		})
	}
	return out
}

// vector runs an instant query that must answer a vector.
func (q *fleetQuery) vector(ctx context.Context, query string) (model.Vector, error) {
	value, warnings, _, err := q.api.Query(ctx, query, q.at)
	for _, w := range warnings {
		q.warn(fmt.Sprintf("Prometheus warns about %s: %s", query, w))
	}
	if err != nil {
		return nil, q.explain(query, err)
	}
	v, ok := value.(model.Vector)
	if !ok {
		return nil, fmt.Errorf("the Prometheus at %s answered %s with a %s, want a vector", q.url, query, value.Type())
	}
	return v, nil
}

// explain says what a failed query means for the user's flags.
func (q *fleetQuery) explain(query string, err error) error {
	var apiErr *v1.Error
	switch {
	case errors.As(err, &apiErr) && apiErr.Type == v1.ErrBadData:
		return fmt.Errorf("the Prometheus at %s rejects the query %s: %s; check --prometheus.selector %q, label matchers such as job=\"vramfit\",instance=~\"gpu-.*\"",
			q.url, query, apiErr.Msg, q.selector)
	case errors.As(err, &apiErr) && apiErr.Type == v1.ErrClient:
		return fmt.Errorf("the Prometheus at %s refuses the query (%s): check that --prometheus.url is Prometheus's address (its API is under /api/v1) "+
			"and the credentials of --prometheus.http-config.file", q.url, apiErr.Msg)
	case errors.As(err, &apiErr) && apiErr.Type == v1.ErrBadResponse:
		return fmt.Errorf("the Prometheus at %s does not answer as Prometheus's API does (%s): check --prometheus.url", q.url, apiErr.Msg)
	case errors.As(err, &apiErr):
		return fmt.Errorf("the Prometheus at %s failed the query %s: %s", q.url, query, apiErr.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("the Prometheus at %s did not answer within --prometheus.timeout: %w", q.url, err)
	}
	return fmt.Errorf("cannot query Prometheus at %s: %w", q.url, err)
}

// byteCount converts a sample to bytes: a negative or NaN sample is 0, and
// one beyond 2^63 saturates rather than wrapping.
func byteCount(v float64) uint64 {
	switch {
	case !(v > 0):
		return 0
	case v >= math.MaxInt64:
		return math.MaxInt64
	}
	return uint64(v)
}

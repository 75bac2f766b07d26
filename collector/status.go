package collector

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/version"

	"github.com/vramfit/vramfit/estimator"
	"github.com/vramfit/vramfit/nvml"
)

//go:embed status.html
var statusHTML string

var statusTemplate = template.Must(template.New("status").Parse(statusHTML))

// statusPagePolicy is the status page's Content-Security-Policy.
const statusPagePolicy = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// docsURL is where the metrics and their definitions are documented.
const docsURL = "https://github.com/vramfit/vramfit/blob/main/docs/metrics.md"

// statusPage is what the status page shows, formatted for reading.
type statusPage struct {
	Version     string
	MetricsPath string
	DocsURL     string
	NVMLError   string
	System      nvml.System
	HostGPU     string
	GPUs        []gpuRow
	Targets     []targetRow
	// ShowHolders is set when a collector of who holds the GPUs is on;
	// HoldersError says why the kubelet could not be asked.
	ShowHolders  bool
	HoldersError string

	// Updated is when the page was made; the page reloads itself every
	// RefreshSeconds, without a script.
	Updated        string
	RefreshSeconds int
	// The targets file, when it last loaded, and the last reload's failure.
	TargetsFile    string
	Loaded         string
	ReloadError    string
	ReloadFailedAt string
	// Together answers whether all the targets fit at once; nil without
	// devices.
	Together *togetherRow
}

// togetherRow is the host-level answer on the status page.
type togetherRow struct {
	Fits, Idle bool
	// Left are the targets the joint placement found no room for now.
	Left string
}

type gpuRow struct {
	Label, Name, UUID string
	Instance          bool   // a MIG instance, shown under its GPU
	Split             bool   // a GPU in MIG mode: its instances hold its memory
	Down              string // why the device is down
	Total, Used       string
	Reserved, Free    string
	// Widths of the bar's parts, in percent of the total.
	UsedPct, ReservedPct, FreePct float64
	// Holders are the device's processes and pods, one line each.
	Holders []string
}

type targetRow struct {
	Name, Model, Workload, Precision, Method string
	// Known is false while no device can be read: the verdicts are then
	// unknown and the requirement is for the target's own layout.
	Known       bool
	Fits, Idle  bool
	Headroom    string
	GPUs        string
	UnfitReason string
	MaxBatch    string
	// EngineKV is a serving engine's KV cache tokens and concurrency now;
	// "" for other targets.
	EngineKV string
	// Placement says where the target goes, or why it goes nowhere;
	// Layout how it is spread, naming the fields placement chose.
	Placement  string
	Layout     string
	Components []componentCell
	// Warnings are the estimate's remarks (a context beyond the model's
	// limit, parts left unknown, ...).
	Warnings []string
}

type componentCell struct{ Name, Value string }

// StatusHandler serves the status page at /: every device's memory and
// every target's verdict, rendered on the server, without scripts.
func (c *Collector) StatusHandler(metricsPath string) http.Handler {
	return c.shared("status", func() response {
		pods := c.askPods()
		v := c.look()
		page := newStatusPage(v, metricsPath)
		page.addReloadState(c.store.reloadState(), time.Now())
		c.holdersOf(pods).addToPage(&page, v.snapshot.Devices)
		var buf bytes.Buffer
		if err := statusTemplate.Execute(&buf, page); err != nil {
			c.logger.Error("rendering the status page", "err", err)
			return textResponse(http.StatusInternalServerError, "cannot render the status page")
		}
		return response{status: http.StatusOK, body: buf.Bytes(), header: http.Header{
			"Content-Type":           {"text/html; charset=utf-8"},
			"X-Content-Type-Options": {"nosniff"},
			// The page needs nothing but its own inline styles: should a
			// name from the targets file or the driver ever slip past the
			// escaping, the browser still runs no script, loads nothing and
			// frames nothing.
			"Content-Security-Policy": {statusPagePolicy},
		}}
	})
}

func newStatusPage(v view, metricsPath string) statusPage {
	page := statusPage{Version: version.Info(), MetricsPath: metricsPath, DocsURL: docsURL, System: v.snapshot.System}
	if v.nvmlErr != nil {
		page.NVMLError = v.nvmlErr.Error()
	}
	if v.plan != nil {
		page.HostGPU = fmt.Sprintf("%s, %s without the driver's reserve", v.plan.gpu.Name, estimator.FormatGiB(v.plan.gpu.MemoryBytes))
		page.Together = &togetherRow{Fits: v.together.fits, Idle: v.together.fitsWhenIdle,
			Left: strings.Join(v.targets.names(v.together.left), ", ")}
	}
	for _, d := range v.snapshot.Devices {
		page.GPUs = append(page.GPUs, newGPURow(d))
	}
	for i, t := range v.targets.targets {
		row := targetRow{Name: t.name, Model: t.own.Model, Workload: string(t.own.Workload),
			Precision: t.own.Precision, Method: string(t.own.Method), Warnings: t.own.Warnings}
		if v.plan != nil {
			e, p := &v.plan.entries[i], v.placements[i]
			row.Known, row.Fits, row.Idle = true, p.fits, p.fitsWhenIdle
			row.Headroom = estimator.FormatGiB(p.headroom)
			row.GPUs, row.UnfitReason = strconv.Itoa(e.fit.GPUsRequired), e.fit.UnfitReason
			if e.fit.GPUsRequired == 0 {
				row.GPUs = "none"
			}
			if t.batchKnown {
				row.MaxBatch = strconv.Itoa(p.maxBatch)
			}
			if t.serving {
				row.EngineKV = fmt.Sprintf("%d tokens, concurrency %.2f (%s)", p.kvTokens, p.concurrency, t.est.Engine())
			}
			row.Placement = placementNote(v.snapshot.Devices, e.fit.GPUsRequired, p)
			row.Layout = layoutNote(e.fit)
		}
		for _, part := range v.need(i).Parts() {
			cell := componentCell{Name: part.Name, Value: "unknown"}
			if part.Known {
				cell.Value = estimator.FormatGiB(part.Bytes)
			}
			row.Components = append(row.Components, cell)
		}
		page.Targets = append(page.Targets, row)
	}
	return page
}

// statusRefresh is how often the status page reloads itself.
const statusRefresh = 30 * time.Second

// addReloadState says when the page was made, which targets file it shows
// and when that loaded, and why the last reload failed, if it did.
func (page *statusPage) addReloadState(st reloadState, now time.Time) {
	const layout = "2006-01-02 15:04:05 UTC"
	page.Updated, page.RefreshSeconds = now.UTC().Format(layout), int(statusRefresh/time.Second)
	page.TargetsFile = st.file
	if !st.loaded.IsZero() {
		page.Loaded = st.loaded.UTC().Format(layout)
	}
	if st.failed != nil {
		page.ReloadError, page.ReloadFailedAt = st.failed.err, st.failed.at.UTC().Format(layout)
	}
}

func newGPURow(d nvml.Device) gpuRow {
	row := gpuRow{Label: deviceLabel(d), Name: d.Name, UUID: d.UUID,
		Instance: d.IsMIG(), Split: d.MIGMode == nvml.MIGEnabled && !d.IsMIG()}
	if d.Err != nil {
		// The row already names the device; the error need not again.
		row.Down = strings.TrimPrefix(d.Err.Error(), fmt.Sprintf("gpu %d: ", d.Index))
		return row
	}
	m := d.Memory
	row.Total, row.Used, row.Free = estimator.FormatGiB(toInt64(m.Total)), estimator.FormatGiB(toInt64(m.Used)), estimator.FormatGiB(toInt64(m.Free))
	if m.HasReserved {
		row.Reserved = estimator.FormatGiB(toInt64(m.Reserved))
	}
	if m.Total > 0 {
		pct := func(b uint64) float64 { return float64(b) / float64(m.Total) * 100 }
		row.UsedPct, row.FreePct = pct(m.Used), pct(m.Free)
		if m.HasReserved {
			row.ReservedPct = pct(m.Reserved)
		}
	}
	return row
}

// deviceLabel names a device as people say it: "GPU 3", "GPU 0 MIG 1g.10gb".
func deviceLabel(d nvml.Device) string {
	if d.IsMIG() {
		return fmt.Sprintf("GPU %d MIG %s", d.Index, d.MIGProfile)
	}
	return fmt.Sprintf("GPU %d", d.Index)
}

// placementNote says where a placed target goes, and for one that does not
// fit whether the host lacks devices or free memory on them. A target no
// count of GPUs can take has its unfit reason instead.
func placementNote(devices []nvml.Device, gpusRequired int, p placement) string {
	switch {
	case gpusRequired == 0:
		return ""
	case len(p.devices) < gpusRequired:
		return fmt.Sprintf("needs %d GPUs; %d can take it here", gpusRequired, len(p.devices))
	case p.fits:
		return "on " + deviceList(devices, p.devices)
	default:
		return "short of free memory on " + deviceList(devices, p.devices)
	}
}

// layoutNote writes a placement's layout and the fields it chose because
// the target leaves them open.
func layoutNote(fit estimator.Fit) string {
	if len(fit.Chosen) == 0 {
		return fit.Layout.String()
	}
	return fmt.Sprintf("%s (chosen: %s)", fit.Layout, strings.Join(fit.Chosen, ", "))
}

// deviceList names the chosen devices: "GPU 7, GPU 6".
func deviceList(devices []nvml.Device, chosen []int) string {
	labels := make([]string, len(chosen))
	for i, d := range chosen {
		labels[i] = deviceLabel(devices[d])
	}
	return strings.Join(labels, ", ")
}

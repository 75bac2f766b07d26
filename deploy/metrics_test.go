package deploy

import (
	"regexp"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
)

// exportedMetrics are the families the agent exports (DESIGN.md § Metrics).
// Rules and dashboard queries may name these and nothing else of vramfit's.
var exportedMetrics = []string{
	"vramfit_gpu_info",
	"vramfit_gpu_memory_total_bytes",
	"vramfit_gpu_memory_used_bytes",
	"vramfit_gpu_memory_free_bytes",
	"vramfit_gpu_memory_reserved_bytes",
	"vramfit_gpu_up",
	"vramfit_gpu_utilization_ratio",
	"vramfit_gpu_temperature_celsius",
	"vramfit_gpu_power_watts",
	"vramfit_driver_info",
	"vramfit_target_info",
	"vramfit_target_required_bytes",
	"vramfit_target_gpus_required",
	"vramfit_target_fits",
	"vramfit_target_fits_when_idle",
	"vramfit_target_headroom_bytes",
	"vramfit_target_max_batch",
	"vramfit_target_pinned",
	"vramfit_targets_fit_together",
	"vramfit_targets_fit_together_when_idle",
	// The opt-in collectors (--collector.processes, --collector.pods).
	"vramfit_gpu_process_memory_used_bytes",
	"vramfit_gpu_allocation_info",
	"vramfit_scrape_collector_success",
	"vramfit_scrape_collector_duration_seconds",
	"vramfit_config_last_reload_successful",
	"vramfit_config_last_reload_success_timestamp_seconds",
	"vramfit_build_info",
}

// metricToken matches a word that names a vramfit metric. Recording rule names
// (level:metric:ops) hold colons and are not matched as a whole.
var metricToken = regexp.MustCompile(`(?:^|[^a-zA-Z0-9_:])(vramfit_[a-zA-Z0-9_]*)(?:[^a-zA-Z0-9_:]|$)`)

// unknownMetrics returns the vramfit_* names in text that the agent does not export.
func unknownMetrics(text string) []string {
	var unknown []string
	for _, m := range metricToken.FindAllStringSubmatch(text, -1) {
		if !slices.Contains(exportedMetrics, m[1]) {
			unknown = append(unknown, m[1])
		}
	}
	return unknown
}

func TestUnknownMetrics(t *testing.T) {
	tests := []struct {
		text string
		want []string
	}{
		{`vramfit_target_fits == 0`, nil},
		{`sum by (job) (vramfit_gpu_memory_free_bytes{uuid="x"})`, nil},
		{`vramfit_target_fit == 0`, []string{"vramfit_target_fit"}},
		{`vramfit_gpu_memory_bytes * on (uuid) vramfit_gpu_info`, []string{"vramfit_gpu_memory_bytes"}},
		// A recording rule's name is not a metric of the agent.
		{`target:vramfit_target_fits:sum > 0`, nil},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, unknownMetrics(tt.text), tt.text)
	}
}

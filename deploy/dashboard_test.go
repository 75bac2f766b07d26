package deploy

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const datasourceRef = "${datasource}"

func loadDashboard(t *testing.T) *Dashboard {
	t.Helper()
	d, err := LoadDashboard(".")
	require.NoError(t, err)
	return d
}

func TestDashboardShape(t *testing.T) {
	d := loadDashboard(t)
	assert.GreaterOrEqual(t, d.SchemaVersion, 39, "a current Grafana's schema")
	assert.NotEmpty(t, d.UID)
	assert.NotEmpty(t, d.Title)

	vars := map[string]Variable{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v
	}
	require.Contains(t, vars, "datasource")
	assert.Equal(t, "datasource", vars["datasource"].Type)
	assert.Equal(t, "prometheus", vars["datasource"].Query)
	for _, name := range []string{"job", "instance", "target"} {
		require.Contains(t, vars, name)
		v := vars[name]
		assert.Equal(t, "query", v.Type, name)
		if assert.NotNil(t, v.Datasource, name) {
			assert.Equal(t, datasourceRef, v.Datasource.UID, name)
		}
	}
	for _, name := range []string{"instance", "target"} {
		assert.True(t, vars[name].Multi && vars[name].IncludeAll, "%s: several hosts or targets at once, and All", name)
		assert.Equal(t, ".*", vars[name].AllValue, "%s: All must match every value, also those not listed yet", name)
	}

	ids := map[int]bool{}
	for _, p := range d.AllPanels() {
		assert.False(t, ids[p.ID], "panel id %d used twice", p.ID)
		ids[p.ID] = true
		assert.True(t, p.GridPos.X >= 0 && p.GridPos.W > 0 && p.GridPos.X+p.GridPos.W <= 24, "panel %q is wider than the grid", p.Title)
		if p.Type == "row" {
			continue
		}
		assert.NotEmpty(t, p.Title, "panel id %d", p.ID)
		require.NotNil(t, p.Datasource, "panel %q", p.Title)
		assert.Equal(t, datasourceRef, p.Datasource.UID, "panel %q: the datasource must be the variable", p.Title)
		require.NotEmpty(t, p.Targets, "panel %q has no query", p.Title)
		refs := map[string]bool{}
		for _, q := range p.Targets {
			assert.NotEmpty(t, strings.TrimSpace(q.Expr), "panel %q query %s", p.Title, q.RefID)
			assert.False(t, refs[q.RefID], "panel %q: refId %s used twice", p.Title, q.RefID)
			refs[q.RefID] = true
			if assert.NotNil(t, q.Datasource, "panel %q query %s", p.Title, q.RefID) {
				assert.Equal(t, datasourceRef, q.Datasource.UID, "panel %q query %s", p.Title, q.RefID)
			}
		}
	}
}

// TestDashboardPanelsDoNotOverlap checks the layout as Grafana draws it with
// every row expanded.
func TestDashboardPanelsDoNotOverlap(t *testing.T) {
	panels := loadDashboard(t).AllPanels()
	for i, a := range panels {
		for _, b := range panels[i+1:] {
			overlap := a.GridPos.X < b.GridPos.X+b.GridPos.W && b.GridPos.X < a.GridPos.X+a.GridPos.W &&
				a.GridPos.Y < b.GridPos.Y+b.GridPos.H && b.GridPos.Y < a.GridPos.Y+a.GridPos.H
			assert.False(t, overlap, "panels %q and %q overlap", a.Title, b.Title)
		}
	}
}

// TestDashboardCoversTheIssue checks that the panels the issue asks for are
// there, by the metric each one has to query.
func TestDashboardCoversTheIssue(t *testing.T) {
	d := loadDashboard(t)
	byType := map[string][]string{}
	for _, p := range d.AllPanels() {
		for _, q := range p.Targets {
			byType[p.Type] = append(byType[p.Type], q.Expr)
		}
	}
	has := func(panelType string, parts ...string) bool {
		for _, expr := range byType[panelType] {
			all := true
			for _, part := range parts {
				all = all && strings.Contains(expr, part)
			}
			if all {
				return true
			}
		}
		return false
	}
	tests := []struct {
		what, panelType string
		parts           []string
	}{
		{"fleet fit matrix, hosts × targets", "table", []string{"vramfit_target_fits{", "by (instance, target)"}},
		{"hosts where each target fits", "bargauge", []string{"sum by (target) (vramfit_target_fits{"}},
		{"GPU memory used, stacked", "timeseries", []string{"vramfit_gpu_memory_used_bytes"}},
		{"GPU memory reserved, stacked", "timeseries", []string{"vramfit_gpu_memory_reserved_bytes"}},
		{"GPU memory free, stacked", "timeseries", []string{"vramfit_gpu_memory_free_bytes"}},
		{"headroom over time per target", "timeseries", []string{"vramfit_target_headroom_bytes"}},
		{"GPUs required", "table", []string{"vramfit_target_gpus_required"}},
		{"requirement components", "barchart", []string{"vramfit_target_required_bytes", `component!="total"`}},
		// The host-level answer, which the matrix's per-target verdicts do not give.
		{"all targets together per host, now", "table", []string{"vramfit_targets_fit_together{", "by (instance)"}},
		{"all targets together per host, when idle", "table", []string{"vramfit_targets_fit_together_when_idle{", "by (instance)"}},
		{"exporter health: scrapes", "stat", []string{"up{"}},
		{"exporter health: collectors", "state-timeline", []string{"vramfit_scrape_collector_success"}},
		{"exporter health: reloads", "state-timeline", []string{"vramfit_config_last_reload_successful"}},
		// The inventory's rows come from a series a lost GPU keeps (the e2e loses one).
		{"GPU inventory, lost GPUs included", "table", []string{"vramfit_gpu_up{", "group_left (name,", "vramfit_gpu_info{"}},
		{"GPU inventory: utilisation", "table", []string{"vramfit_gpu_utilization_ratio{"}},
		{"GPU inventory: temperature", "table", []string{"vramfit_gpu_temperature_celsius{"}},
		{"GPU inventory: power", "table", []string{"vramfit_gpu_power_watts{"}},
	}
	for _, tt := range tests {
		assert.True(t, has(tt.panelType, tt.parts...), "no %s panel queries %v (%s)", tt.panelType, tt.parts, tt.what)
	}
}

// TestDashboardQueriesUseVariables checks that every query names only exported
// metrics and follows the job and host selection; target queries follow the
// target selection too.
func TestDashboardQueriesUseVariables(t *testing.T) {
	queries, err := loadDashboard(t).Queries()
	require.NoError(t, err)
	require.NotEmpty(t, queries)
	for _, q := range queries {
		assert.Empty(t, unknownMetrics(q.Expr), "%s: names metrics the agent does not export", q.Source)
		if strings.HasPrefix(q.Source, `variable "job"`) {
			continue
		}
		assert.Contains(t, q.Expr, `job="$job"`, q.Source)
		if !strings.HasPrefix(q.Source, `variable "instance"`) {
			assert.Contains(t, q.Expr, `instance=~"$instance"`, q.Source)
		}
		if strings.Contains(q.Expr, "vramfit_target_") && !strings.HasPrefix(q.Source, "variable") {
			assert.Contains(t, q.Expr, `target=~"$target"`, q.Source)
		}
		// The host-level series (vramfit_targets_*) have no target label: a
		// target filter would empty them as soon as one target is selected.
		if strings.Contains(q.Expr, "vramfit_targets_") {
			assert.NotContains(t, q.Expr, "$target", q.Source)
		}
		// Every selector of the query must carry the filters, or a join would mix hosts.
		selectors := strings.Count(q.Expr, "{")
		assert.Equal(t, selectors, strings.Count(q.Expr, `job="$job"`), "%s: a selector without the job filter", q.Source)
	}
}

func TestDashboardQueries(t *testing.T) {
	d := &Dashboard{}
	d.Panels = []Panel{
		{ID: 1, Type: "row", Title: "Collapsed", Panels: []Panel{
			{ID: 2, Type: "stat", Title: "Inner", Targets: []Target{{RefID: "A", Expr: "up"}}},
		}},
		{ID: 3, Type: "timeseries", Title: "Outer", Targets: []Target{{RefID: "A", Expr: "a"}, {RefID: "B", Expr: "b"}}},
	}
	d.Templating.List = []Variable{
		{Name: "datasource", Type: "datasource"},
		{Name: "instance", Type: "query", Definition: `label_values(vramfit_build_info{job="$job"}, instance)`},
	}
	queries, err := d.Queries()
	require.NoError(t, err)
	assert.Equal(t, []Query{
		{Source: `panel "Inner" (id 2) query A`, Expr: "up"},
		{Source: `panel "Outer" (id 3) query A`, Expr: "a"},
		{Source: `panel "Outer" (id 3) query B`, Expr: "b"},
		{Source: `variable "instance"`, Expr: `vramfit_build_info{job="$job"}`},
	}, queries)

	d.Templating.List = []Variable{{Name: "x", Type: "query", Definition: "query_result(up)"}}
	_, err = d.Queries()
	assert.ErrorContains(t, err, `variable "x": definition "query_result(up)" is not label_values(selector, label)`)
}

func TestExpandVariables(t *testing.T) {
	values := map[string]string{"job": "vramfit", "instance": ".*", "target": "llama|mistral"}
	tests := []struct{ expr, want string }{
		{`up{job="$job"}`, `up{job="vramfit"}`},
		{`x{instance=~"${instance}",target=~"$target"}`, `x{instance=~".*",target=~"llama|mistral"}`},
		// $jobs is another variable, not $job followed by "s".
		{`x{a="$jobs"}`, `x{a="$jobs"}`},
		// Grafana's own variables are left for Grafana.
		{`rate(x[$__rate_interval])`, `rate(x[$__rate_interval])`},
		{`a $ b ${ c`, `a $ b ${ c`},
		{`$job$job`, `vramfitvramfit`},
		{``, ``},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, ExpandVariables(tt.expr, values), tt.expr)
	}
}

func TestSelectAll(t *testing.T) {
	d := loadDashboard(t)
	values := d.SelectAll(map[string]string{"job": "vramfit"})
	assert.Equal(t, map[string]string{"job": "vramfit", "instance": ".*", "target": ".*"}, values)
	queries, err := d.Queries()
	require.NoError(t, err)
	for _, q := range queries {
		expanded := ExpandVariables(q.Expr, values)
		assert.NotContains(t, expanded, "$", "%s: a variable was left unexpanded", q.Source)
	}
}

func FuzzExpandVariables(f *testing.F) {
	for _, seed := range []string{`up{job="$job"}`, `${instance}`, `$`, `${`, `$__interval`, `$$job`, "\x00$a"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		// Without values nothing is replaced.
		if got := ExpandVariables(expr, nil); got != expr {
			t.Fatalf("ExpandVariables(%q, nil) = %q", expr, got)
		}
		// A value without "$" leaves no reference to its variable behind.
		got := ExpandVariables(expr, map[string]string{"v": "X"})
		for i := strings.Index(got, "$"); i >= 0; i = nextDollar(got, i) {
			if name, _ := variableAt(got[i+1:]); name == "v" {
				t.Fatalf("ExpandVariables(%q) = %q still holds $v", expr, got)
			}
		}
	})
}

func nextDollar(s string, i int) int {
	j := strings.Index(s[i+1:], "$")
	if j < 0 {
		return -1
	}
	return i + 1 + j
}

package deploy

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// recordingName is level:metric:operations, the metric being one of the agent's.
var recordingName = regexp.MustCompile(`^[a-z_]+:(vramfit_[a-z_]+):[a-z_0-9]+$`)

func TestRulesFollowConventions(t *testing.T) {
	groups, err := LoadRuleGroups(".")
	require.NoError(t, err)
	severities := []string{"critical", "warning", "info"}
	for _, g := range groups {
		require.NotEmpty(t, g.Rules, "group %s", g.Name)
		for _, r := range g.Rules {
			assert.Empty(t, unknownMetrics(r.Expr), "%s: expression names metrics the agent does not export", r.Name())
			if r.Record != "" {
				m := recordingName.FindStringSubmatch(r.Record)
				if assert.NotNil(t, m, "%s: want level:metric:operations", r.Record) {
					assert.Contains(t, exportedMetrics, m[1], "%s: the metric part is not an exported metric", r.Record)
				}
				continue
			}
			assert.Regexp(t, `^Vramfit[A-Z][A-Za-z]+$`, r.Alert)
			assert.NotEmpty(t, r.For, "%s: an alert needs a `for` so that one bad scrape does not page", r.Alert)
			assert.Contains(t, severities, r.Labels["severity"], "%s: severity", r.Alert)
			assert.NotEmpty(t, r.Annotations["summary"], "%s: summary", r.Alert)
			assert.NotEmpty(t, r.Annotations["description"], "%s: description", r.Alert)
			for name, text := range r.Annotations {
				assert.Empty(t, unknownMetrics(text), "%s: annotation %s queries metrics the agent does not export", r.Alert, name)
			}
		}
	}
}

// promtoolTests is the part of a `promtool test rules` file that says what is tested.
type promtoolTests struct {
	RuleFiles []string `yaml:"rule_files"`
	Tests     []struct {
		AlertRuleTest []struct {
			AlertName string `yaml:"alertname"`
			ExpAlerts []any  `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
		PromQLExprTest []struct {
			Expr string `yaml:"expr"`
		} `yaml:"promql_expr_test"`
	} `yaml:"tests"`
}

// TestEveryRuleHasUnitTests checks that the promtool tests show every alert
// both firing and quiet, and evaluate every recording rule; promtool itself
// runs them (make test-deploy).
func TestEveryRuleHasUnitTests(t *testing.T) {
	groups, err := LoadRuleGroups(".")
	require.NoError(t, err)
	ruleFiles, err := RuleFiles(".")
	require.NoError(t, err)

	testFiles, err := filepath.Glob(filepath.Join(RulesDir, "tests", "*.yml"))
	require.NoError(t, err)
	require.NotEmpty(t, testFiles)
	fires, quiet, evaluated := map[string]bool{}, map[string]bool{}, map[string]bool{}
	var tested []string
	for _, path := range testFiles {
		data, err := os.ReadFile(path)
		require.NoError(t, err)
		var f promtoolTests
		require.NoError(t, yaml.Unmarshal(data, &f), path)
		for _, rf := range f.RuleFiles {
			tested = append(tested, filepath.Clean(filepath.Join(filepath.Dir(path), rf)))
		}
		for _, tc := range f.Tests {
			for _, a := range tc.AlertRuleTest {
				if len(a.ExpAlerts) > 0 {
					fires[a.AlertName] = true
				} else {
					quiet[a.AlertName] = true
				}
			}
			for _, e := range tc.PromQLExprTest {
				evaluated[e.Expr] = true
			}
		}
	}
	for _, rf := range ruleFiles {
		assert.Contains(t, tested, filepath.Clean(rf), "no promtool test loads %s", rf)
	}
	for _, g := range groups {
		for _, r := range g.Rules {
			if r.Alert != "" {
				assert.True(t, fires[r.Alert], "no test shows %s firing", r.Alert)
				assert.True(t, quiet[r.Alert], "no test shows %s quiet", r.Alert)
			} else {
				assert.True(t, evaluated[r.Record], "no promql_expr_test evaluates %s", r.Record)
			}
		}
	}
}

// collectorsThatFail are the collectors whose
// vramfit_scrape_collector_success can be 0. The targets are validated when
// their file loads, so placing them at a scrape cannot fail.
var collectorsThatFail = []string{"nvml"}

var (
	collectorSuccess = regexp.MustCompile(`vramfit_scrape_collector_success(\{[^}]*\})?`)
	collectorMatcher = regexp.MustCompile(`collector\s*(=~|!=|!~|=)\s*"([^"]*)"`)
)

// TestCollectorAlertsCanFire checks that an alert on collector failures
// selects by name only collectors that can fail: on any other it never fires.
func TestCollectorAlertsCanFire(t *testing.T) {
	groups, err := LoadRuleGroups(".")
	require.NoError(t, err)
	for _, g := range groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			for _, m := range collectorSuccess.FindAllStringSubmatch(r.Expr, -1) {
				matcher := collectorMatcher.FindStringSubmatch(m[1])
				if assert.NotNil(t, matcher, "%s: %s selects no collector", r.Alert, m[0]) {
					assert.Equal(t, "=", matcher[1], "%s: %s: select one collector by name", r.Alert, m[0])
					assert.Contains(t, collectorsThatFail, matcher[2], "%s: %s: this collector never fails", r.Alert, m[0])
				}
			}
		}
	}
}

func TestRuleNamesAreUnique(t *testing.T) {
	groups, err := LoadRuleGroups(".")
	require.NoError(t, err)
	var groupNames, alerts []string
	for _, g := range groups {
		assert.NotContains(t, groupNames, g.Name, "group names must be unique across the rule files")
		groupNames = append(groupNames, g.Name)
		for _, r := range g.Rules {
			if r.Alert != "" {
				assert.False(t, slices.Contains(alerts, r.Alert), "alert %s is defined twice", r.Alert)
				alerts = append(alerts, r.Alert)
			}
		}
	}
}

func TestLoadRuleGroupsRejectsBadFiles(t *testing.T) {
	tests := []struct {
		name, content, wantErr string
	}{
		{"unknown field", "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up\n        fro: 5m\n", "field fro not found"},
		{"no groups", "# nothing\n", "no rule groups"},
		{"not YAML", "groups: [\n", "did not find expected node content"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			require.NoError(t, os.Mkdir(filepath.Join(dir, RulesDir), 0o755))
			require.NoError(t, os.WriteFile(filepath.Join(dir, RulesDir, "bad.yml"), []byte(tt.content), 0o644))
			_, err := LoadRuleGroups(dir)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
			assert.Contains(t, err.Error(), "bad.yml")
		})
	}
	_, err := LoadRuleGroups(t.TempDir())
	assert.ErrorContains(t, err, "no rule files")
}

package deploy

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// rendered is what `helm template` printed: each object by kind, then name.
type rendered map[string]map[string]map[string]any

func (r rendered) one(t *testing.T, kind string) map[string]any {
	t.Helper()
	require.Len(t, r[kind], 1, "%s objects", kind)
	for _, o := range r[kind] {
		return o
	}
	return nil
}

// helmTemplate renders the chart as release with the values, as `make
// helm-test` and a user's `helm install` do. helm comes from $HELM (make
// passes the one it installs) or PATH.
func helmTemplate(t *testing.T, release, values string) rendered {
	t.Helper()
	helm := lookTool(t, "HELM", "helm", "run `make helm-install`, or set HELM to a helm v3 binary")
	cmd := exec.Command(helm, "template", release, ChartDir, "--namespace", "gpu-monitoring", "--values", "-")
	cmd.Stdin = strings.NewReader(values)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "helm template: %s", stderr.String())

	r := rendered{}
	dec := yaml.NewDecoder(bytes.NewReader(out))
	for {
		var o map[string]any
		err := dec.Decode(&o)
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		if o == nil {
			continue
		}
		kind, name := o["kind"].(string), dig(t, o, "metadata", "name").(string)
		if r[kind] == nil {
			r[kind] = map[string]map[string]any{}
		}
		require.NotContains(t, r[kind], name, "%s %s rendered twice", kind, name)
		r[kind][name] = o
	}
	return r
}

// dig follows keys (strings) and list indexes (ints) into decoded YAML; a
// missing step is nil.
func dig(t *testing.T, v any, path ...any) any {
	t.Helper()
	for _, step := range path {
		switch s := step.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[s]
		case int:
			l, ok := v.([]any)
			if !ok || s >= len(l) {
				return nil
			}
			v = l[s]
		}
	}
	return v
}

// TestHelmChartMatchesKustomize renders the chart with its defaults and
// checks that its pod is the kustomize kit's: the same container, scheduling,
// runtime class, priority and security context. Only the ConfigMap's name
// differs (kustomize hashes it). The Service and the scrape are the kit's too.
func TestHelmChartMatchesKustomize(t *testing.T) {
	r := helmTemplate(t, "vramfit", "")
	kitFile := func(name string) map[string]any {
		var o map[string]any
		decodeFile(t, name, &o)
		return o
	}

	svc, kitSvc := r.one(t, "Service"), kitFile("service.yaml")
	for _, path := range [][]any{{"metadata", "annotations"}, {"spec", "clusterIP"}, {"spec", "ports"}} {
		assert.Equal(t, dig(t, kitSvc, path...), dig(t, svc, path...), "Service %v", path)
	}
	assert.Equal(t, dig(t, kitFile("servicemonitor.yaml"), "spec", "endpoints"), dig(t, r.one(t, "ServiceMonitor"), "spec", "endpoints"))

	ds, kit := r.one(t, "DaemonSet"), kitFile("daemonset.yaml")

	chartPod := dig(t, ds, "spec", "template", "spec").(map[string]any)
	kitPod := dig(t, kit, "spec", "template", "spec").(map[string]any)
	require.NotNil(t, kitPod["containers"])
	assert.Equal(t, dig(t, kitPod, "volumes", 0, "name"), dig(t, chartPod, "volumes", 0, "name"))
	assert.Equal(t, "vramfit-targets", dig(t, chartPod, "volumes", 0, "configMap", "name"))
	withoutVolumes := func(pod map[string]any) map[string]any {
		out := map[string]any{}
		for k, v := range pod {
			if k != "volumes" {
				out[k] = v
			}
		}
		return out
	}
	assert.Equal(t, withoutVolumes(kitPod), withoutVolumes(chartPod), "the chart's pod spec differs from deploy/kubernetes/daemonset.yaml's")
	assert.Equal(t, dig(t, kit, "spec", "updateStrategy"), dig(t, ds, "spec", "updateStrategy"))
}

// TestHelmChartDefaults checks what the chart renders by default: the
// targets, rules and dashboard are those of the repository, and the scrape
// gives the job and instance labels the rules and the dashboard expect.
func TestHelmChartDefaults(t *testing.T) {
	// A release name without "vramfit": object names change, the job label must not.
	r := helmTemplate(t, "gpu", "")
	kinds := map[string]int{}
	for kind, objs := range r {
		kinds[kind] = len(objs)
	}
	assert.Equal(t, map[string]int{"ConfigMap": 2, "Service": 1, "DaemonSet": 1, "ServiceMonitor": 1, "PrometheusRule": 1}, kinds)

	version, err := os.ReadFile("../VERSION")
	require.NoError(t, err)
	var chart struct {
		Version    string `yaml:"version"`
		AppVersion string `yaml:"appVersion"`
	}
	data, err := os.ReadFile(filepath.Join(ChartDir, "Chart.yaml"))
	require.NoError(t, err)
	require.NoError(t, yaml.Unmarshal(data, &chart))
	assert.Equal(t, strings.TrimSpace(string(version)), chart.AppVersion, "Chart.yaml's appVersion follows VERSION")
	assert.Equal(t, chart.AppVersion, chart.Version)

	targets, err := os.ReadFile(ExampleTargetsFile)
	require.NoError(t, err)
	assert.Contains(t, dig(t, r["ConfigMap"]["gpu-vramfit-targets"], "data", "targets.yml"), string(targets))

	dashboard := r["ConfigMap"]["gpu-vramfit-dashboard"]
	assert.Equal(t, "1", dig(t, dashboard, "metadata", "labels", "grafana_dashboard"), "Grafana's sidecar loads ConfigMaps labelled grafana_dashboard=1")
	want, err := os.ReadFile(DashboardFile)
	require.NoError(t, err)
	assert.JSONEq(t, string(want), dig(t, dashboard, "data", "vramfit.json").(string))

	var rule struct {
		Spec struct {
			Groups []RuleGroup `yaml:"groups"`
		} `yaml:"spec"`
	}
	reencode(t, r.one(t, "PrometheusRule"), &rule)
	groups, err := LoadRuleGroups(".")
	require.NoError(t, err)
	assert.Equal(t, groups, rule.Spec.Groups)

	svc, sm := r.one(t, "Service"), r.one(t, "ServiceMonitor")
	// The Prometheus operator takes the job label from the Service's label named by jobLabel.
	jobLabel := dig(t, sm, "spec", "jobLabel").(string)
	assert.Equal(t, "vramfit", dig(t, svc, "metadata", "labels", jobLabel), "job must be vramfit: the rules select it")
	for k, v := range dig(t, sm, "spec", "selector", "matchLabels").(map[string]any) {
		assert.Equal(t, v, dig(t, svc, "metadata", "labels", k), "the ServiceMonitor selects the Service")
		assert.Equal(t, v, dig(t, r.one(t, "DaemonSet"), "spec", "template", "metadata", "labels", k), "the Service selects the pods")
	}
	assert.Equal(t, "instance", dig(t, sm, "spec", "endpoints", 0, "relabelings", 0, "targetLabel"))
	assert.Equal(t, []any{"__meta_kubernetes_pod_node_name"}, dig(t, sm, "spec", "endpoints", 0, "relabelings", 0, "sourceLabels"))
	assert.Equal(t, "None", dig(t, svc, "spec", "clusterIP"))
}

// TestHelmChartOptions renders the chart with each switch and checks what it
// changes.
func TestHelmChartOptions(t *testing.T) {
	pod := func(r rendered) any { return dig(t, r.one(t, "DaemonSet"), "spec", "template", "spec") }
	args := func(r rendered) []any { return dig(t, pod(r), "containers", 0, "args").([]any) }

	t.Run("kube-prometheus-stack labels", func(t *testing.T) {
		r := helmTemplate(t, "vramfit", "serviceMonitor: {additionalLabels: {release: kps}}\nprometheusRule: {additionalLabels: {release: kps}}\n")
		assert.Equal(t, "kps", dig(t, r.one(t, "ServiceMonitor"), "metadata", "labels", "release"))
		assert.Equal(t, "kps", dig(t, r.one(t, "PrometheusRule"), "metadata", "labels", "release"))
	})
	t.Run("PodMonitor instead of ServiceMonitor", func(t *testing.T) {
		r := helmTemplate(t, "vramfit", "serviceMonitor: {enabled: false}\npodMonitor: {enabled: true, additionalLabels: {release: kps}}\n")
		assert.Empty(t, r["ServiceMonitor"])
		pm := r.one(t, "PodMonitor")
		assert.Equal(t, "kps", dig(t, pm, "metadata", "labels", "release"))
		jobLabel := dig(t, pm, "spec", "jobLabel").(string)
		assert.Equal(t, "vramfit", dig(t, r.one(t, "DaemonSet"), "spec", "template", "metadata", "labels", jobLabel))
		assert.Equal(t, "metrics", dig(t, pm, "spec", "podMetricsEndpoints", 0, "port"))
		assert.Equal(t, "instance", dig(t, pm, "spec", "podMetricsEndpoints", 0, "relabelings", 0, "targetLabel"))
	})
	t.Run("no rules, no dashboard, default runtime", func(t *testing.T) {
		r := helmTemplate(t, "vramfit", "prometheusRule: {enabled: false}\ndashboard: {enabled: false}\nruntimeClassName: \"\"\npriorityClassName: \"\"\n")
		assert.Empty(t, r["PrometheusRule"])
		assert.Len(t, r["ConfigMap"], 1, "the targets only")
		assert.NotContains(t, pod(r), "runtimeClassName")
		assert.NotContains(t, pod(r), "priorityClassName")
	})
	t.Run("targets inline", func(t *testing.T) {
		r := helmTemplate(t, "vramfit", "targets:\n  inline: |\n    targets: []\n")
		assert.Equal(t, "targets: []\n", dig(t, r["ConfigMap"]["vramfit-targets"], "data", "targets.yml"))
	})
	t.Run("targets from an existing ConfigMap", func(t *testing.T) {
		r := helmTemplate(t, "vramfit", "targets: {existingConfigMap: my-targets}\n")
		assert.NotContains(t, r["ConfigMap"], "vramfit-targets")
		assert.Equal(t, "my-targets", dig(t, pod(r), "volumes", 0, "configMap", "name"))
	})
	t.Run("web config", func(t *testing.T) {
		r := helmTemplate(t, "vramfit", "webConfig:\n  inline: |\n    basic_auth_users: {prometheus: x}\n")
		secret := r.one(t, "Secret")
		assert.Equal(t, "basic_auth_users: {prometheus: x}\n", dig(t, secret, "stringData", "web-config.yml"))
		assert.Contains(t, args(r), "--web.config.file=/etc/vramfit-web/web-config.yml")
		assert.Equal(t, dig(t, secret, "metadata", "name"), dig(t, pod(r), "volumes", 1, "secret", "secretName"))
		assert.Equal(t, "/etc/vramfit-web", dig(t, pod(r), "containers", 0, "volumeMounts", 1, "mountPath"))
		// Basic auth would answer the kubelet's HTTP probes with 401.
		assert.Nil(t, dig(t, pod(r), "containers", 0, "livenessProbe", "httpGet"))
		assert.Equal(t, "metrics", dig(t, pod(r), "containers", 0, "livenessProbe", "tcpSocket", "port"))
	})
	t.Run("processes collector", func(t *testing.T) {
		r := helmTemplate(t, "vramfit", "collectors: {processes: {enabled: true}}\nextraArgs: [--log.level=debug]\n")
		assert.Equal(t, true, dig(t, pod(r), "hostPID"), "/proc/PID/comm of the node's processes")
		assert.Contains(t, args(r), "--collector.processes")
		assert.Equal(t, "--log.level=debug", args(r)[len(args(r))-1])
	})
	t.Run("pods collector", func(t *testing.T) {
		r := helmTemplate(t, "vramfit", "collectors: {pods: {enabled: true}}\n")
		assert.NotContains(t, pod(r), "hostPID")
		assert.Contains(t, args(r), "--collector.pods")
		assert.Contains(t, args(r), "--kubelet.pod-resources-socket=/var/lib/kubelet/pod-resources/kubelet.sock")
		assert.Equal(t, "/var/lib/kubelet/pod-resources", dig(t, pod(r), "volumes", 1, "hostPath", "path"))
		mount := dig(t, pod(r), "containers", 0, "volumeMounts", 1)
		assert.Equal(t, "/var/lib/kubelet/pod-resources", dig(t, mount, "mountPath"))
		assert.Equal(t, true, dig(t, mount, "readOnly"))
	})
}

// reencode decodes generic YAML into a typed value.
func reencode(t *testing.T, from, to any) {
	t.Helper()
	data, err := yaml.Marshal(from)
	require.NoError(t, err)
	require.NoError(t, yaml.Unmarshal(data, to))
}

package deploy

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

const kubernetesDir = "kubernetes"

// The fields of the Kubernetes objects that the checks read; a subset of the
// real schemas, decoded leniently.
type (
	object struct {
		APIVersion string   `yaml:"apiVersion"`
		Kind       string   `yaml:"kind"`
		Metadata   metadata `yaml:"metadata"`
	}
	metadata struct {
		Name      string            `yaml:"name"`
		Namespace string            `yaml:"namespace"`
		Labels    map[string]string `yaml:"labels"`
	}
	daemonSet struct {
		object `yaml:",inline"`
		Spec   struct {
			Selector struct {
				MatchLabels map[string]string `yaml:"matchLabels"`
			} `yaml:"selector"`
			Template struct {
				Metadata metadata `yaml:"metadata"`
				Spec     podSpec  `yaml:"spec"`
			} `yaml:"template"`
		} `yaml:"spec"`
	}
	podSpec struct {
		RuntimeClassName  string `yaml:"runtimeClassName"`
		PriorityClassName string `yaml:"priorityClassName"`
		Affinity          struct {
			NodeAffinity struct {
				Required struct {
					Terms []struct {
						MatchExpressions []struct {
							Key      string   `yaml:"key"`
							Operator string   `yaml:"operator"`
							Values   []string `yaml:"values"`
						} `yaml:"matchExpressions"`
					} `yaml:"nodeSelectorTerms"`
				} `yaml:"requiredDuringSchedulingIgnoredDuringExecution"`
			} `yaml:"nodeAffinity"`
		} `yaml:"affinity"`
		Tolerations []struct {
			Key      string `yaml:"key"`
			Operator string `yaml:"operator"`
			Effect   string `yaml:"effect"`
		} `yaml:"tolerations"`
		SecurityContext struct {
			RunAsNonRoot   *bool  `yaml:"runAsNonRoot"`
			RunAsUser      *int64 `yaml:"runAsUser"`
			SeccompProfile struct {
				Type string `yaml:"type"`
			} `yaml:"seccompProfile"`
		} `yaml:"securityContext"`
		AutomountServiceAccountToken *bool       `yaml:"automountServiceAccountToken"`
		Containers                   []container `yaml:"containers"`
		Volumes                      []struct {
			Name      string `yaml:"name"`
			ConfigMap struct {
				Name string `yaml:"name"`
			} `yaml:"configMap"`
		} `yaml:"volumes"`
	}
	container struct {
		Name  string   `yaml:"name"`
		Image string   `yaml:"image"`
		Args  []string `yaml:"args"`
		Env   []struct {
			Name  string `yaml:"name"`
			Value string `yaml:"value"`
		} `yaml:"env"`
		Ports []struct {
			Name          string `yaml:"name"`
			ContainerPort int    `yaml:"containerPort"`
		} `yaml:"ports"`
		LivenessProbe  probe `yaml:"livenessProbe"`
		ReadinessProbe probe `yaml:"readinessProbe"`
		Resources      struct {
			Requests map[string]string `yaml:"requests"`
			Limits   map[string]string `yaml:"limits"`
		} `yaml:"resources"`
		SecurityContext struct {
			AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
			ReadOnlyRootFilesystem   *bool `yaml:"readOnlyRootFilesystem"`
			Privileged               *bool `yaml:"privileged"`
			Capabilities             struct {
				Drop []string `yaml:"drop"`
				Add  []string `yaml:"add"`
			} `yaml:"capabilities"`
		} `yaml:"securityContext"`
		VolumeMounts []struct {
			Name      string `yaml:"name"`
			MountPath string `yaml:"mountPath"`
			ReadOnly  bool   `yaml:"readOnly"`
		} `yaml:"volumeMounts"`
	}
	probe struct {
		HTTPGet struct {
			Path string `yaml:"path"`
			Port string `yaml:"port"`
		} `yaml:"httpGet"`
	}
	service struct {
		object `yaml:",inline"`
		Spec   struct {
			Selector map[string]string `yaml:"selector"`
			Ports    []struct {
				Name       string `yaml:"name"`
				Port       int    `yaml:"port"`
				TargetPort string `yaml:"targetPort"`
			} `yaml:"ports"`
		} `yaml:"spec"`
	}
	serviceMonitor struct {
		object `yaml:",inline"`
		Spec   struct {
			Selector struct {
				MatchLabels map[string]string `yaml:"matchLabels"`
			} `yaml:"selector"`
			Endpoints []struct {
				Port        string `yaml:"port"`
				Path        string `yaml:"path"`
				Relabelings []struct {
					SourceLabels []string `yaml:"sourceLabels"`
					TargetLabel  string   `yaml:"targetLabel"`
				} `yaml:"relabelings"`
			} `yaml:"endpoints"`
		} `yaml:"spec"`
	}
	kustomization struct {
		object             `yaml:",inline"`
		Namespace          string   `yaml:"namespace"`
		Resources          []string `yaml:"resources"`
		ConfigMapGenerator []struct {
			Name  string   `yaml:"name"`
			Files []string `yaml:"files"`
		} `yaml:"configMapGenerator"`
	}
)

// decodeFile decodes the single YAML document of a file under kubernetes/.
func decodeFile(t *testing.T, name string, v any) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(kubernetesDir, name))
	require.NoError(t, err)
	require.NoError(t, yaml.Unmarshal(data, v), name)
}

// manifests decodes every resource of the kustomization by kind.
type manifests struct {
	kustomization  kustomization
	namespace      object
	daemonSet      daemonSet
	service        service
	serviceMonitor serviceMonitor
	prometheusRule object
}

func loadManifests(t *testing.T) manifests {
	t.Helper()
	var m manifests
	decodeFile(t, "kustomization.yaml", &m.kustomization)
	for _, res := range m.kustomization.Resources {
		var o object
		decodeFile(t, res, &o)
		targets := map[string]any{
			"Namespace":      &m.namespace,
			"DaemonSet":      &m.daemonSet,
			"Service":        &m.service,
			"ServiceMonitor": &m.serviceMonitor,
			"PrometheusRule": &m.prometheusRule,
		}
		target, ok := targets[o.Kind]
		require.True(t, ok, "%s: unexpected kind %q", res, o.Kind)
		decodeFile(t, res, target)
	}
	return m
}

func TestKustomizationListsEveryManifest(t *testing.T) {
	m := loadManifests(t)
	assert.Equal(t, "kustomize.config.k8s.io/v1beta1", m.kustomization.APIVersion)
	assert.Equal(t, "Kustomization", m.kustomization.Kind)

	files, err := filepath.Glob(filepath.Join(kubernetesDir, "*.yaml"))
	require.NoError(t, err)
	for _, f := range files {
		if name := filepath.Base(f); name != "kustomization.yaml" {
			assert.Contains(t, m.kustomization.Resources, name, "%s is not in kustomization.yaml's resources", name)
		}
	}
	for _, res := range m.kustomization.Resources {
		data, err := os.ReadFile(filepath.Join(kubernetesDir, res))
		require.NoError(t, err)
		dec := yaml.NewDecoder(bytes.NewReader(data))
		docs := 0
		for {
			var o object
			err := dec.Decode(&o)
			if errors.Is(err, io.EOF) {
				break
			}
			require.NoError(t, err, res)
			docs++
			assert.NotEmpty(t, o.APIVersion, "%s: apiVersion", res)
			assert.NotEmpty(t, o.Kind, "%s: kind", res)
			assert.NotEmpty(t, o.Metadata.Name, "%s: metadata.name", res)
		}
		assert.Equal(t, 1, docs, "%s: one object per file", res)
	}

	kinds := map[string]string{
		"Namespace":      m.namespace.APIVersion,
		"DaemonSet":      m.daemonSet.APIVersion,
		"Service":        m.service.APIVersion,
		"ServiceMonitor": m.serviceMonitor.APIVersion,
		"PrometheusRule": m.prometheusRule.APIVersion,
	}
	assert.Equal(t, map[string]string{
		"Namespace":      "v1",
		"DaemonSet":      "apps/v1",
		"Service":        "v1",
		"ServiceMonitor": "monitoring.coreos.com/v1",
		"PrometheusRule": "monitoring.coreos.com/v1",
	}, kinds)
	assert.Equal(t, m.kustomization.Namespace, m.namespace.Metadata.Name, "the kustomization's namespace is the one it creates")
	assert.Equal(t, "restricted", m.namespace.Metadata.Labels["pod-security.kubernetes.io/enforce"])

	require.Len(t, m.kustomization.ConfigMapGenerator, 1)
	gen := m.kustomization.ConfigMapGenerator[0]
	assert.Equal(t, []string{filepath.Base(TargetsFile)}, gen.Files)
}

func TestDaemonSet(t *testing.T) {
	m := loadManifests(t)
	ds := m.daemonSet
	pod := ds.Spec.Template.Spec
	for k, v := range ds.Spec.Selector.MatchLabels {
		assert.Equal(t, v, ds.Spec.Template.Metadata.Labels[k], "the selector must match the pod's labels")
	}
	require.NotEmpty(t, ds.Spec.Selector.MatchLabels)

	// Scheduling: GPU nodes only, tainted ones included.
	var keys []string
	for _, term := range pod.Affinity.NodeAffinity.Required.Terms {
		for _, e := range term.MatchExpressions {
			keys = append(keys, e.Key)
		}
	}
	assert.Contains(t, keys, "nvidia.com/gpu.present")
	for _, effect := range []string{"NoSchedule", "NoExecute"} {
		tolerated := false
		for _, tol := range pod.Tolerations {
			tolerated = tolerated || tol.Key == "nvidia.com/gpu" && tol.Operator == "Exists" && tol.Effect == effect
		}
		assert.True(t, tolerated, "tolerate the nvidia.com/gpu taint with effect %s", effect)
	}
	// The NVIDIA runtime injects NVML; it is no longer containerd's default under CDI.
	assert.Equal(t, "nvidia", pod.RuntimeClassName)
	assert.Equal(t, "system-node-critical", pod.PriorityClassName)

	// Privileges: none.
	require.NotNil(t, pod.SecurityContext.RunAsNonRoot)
	assert.True(t, *pod.SecurityContext.RunAsNonRoot)
	require.NotNil(t, pod.SecurityContext.RunAsUser)
	assert.NotZero(t, *pod.SecurityContext.RunAsUser)
	assert.Equal(t, "RuntimeDefault", pod.SecurityContext.SeccompProfile.Type)
	require.NotNil(t, pod.AutomountServiceAccountToken)
	assert.False(t, *pod.AutomountServiceAccountToken, "the agent never talks to the API server")

	require.Len(t, pod.Containers, 1)
	c := pod.Containers[0]
	sc := c.SecurityContext
	require.NotNil(t, sc.AllowPrivilegeEscalation)
	assert.False(t, *sc.AllowPrivilegeEscalation)
	require.NotNil(t, sc.ReadOnlyRootFilesystem)
	assert.True(t, *sc.ReadOnlyRootFilesystem)
	assert.True(t, sc.Privileged == nil || !*sc.Privileged)
	assert.Equal(t, []string{"ALL"}, sc.Capabilities.Drop)
	assert.Empty(t, sc.Capabilities.Add)

	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.Value
	}
	assert.Equal(t, "all", env["NVIDIA_VISIBLE_DEVICES"])
	assert.Equal(t, "utility", env["NVIDIA_DRIVER_CAPABILITIES"])

	// The image is this release's.
	version, err := os.ReadFile("../VERSION")
	require.NoError(t, err)
	assert.True(t, strings.HasSuffix(c.Image, ":"+strings.TrimSpace(string(version))), "image %s: tag it with VERSION", c.Image)

	// Port and probes.
	require.Len(t, c.Ports, 1)
	assert.Equal(t, 9847, c.Ports[0].ContainerPort)
	assert.Contains(t, c.Args, "--web.listen-address=:9847")
	assert.Equal(t, "/-/healthy", c.LivenessProbe.HTTPGet.Path)
	assert.Equal(t, "/-/ready", c.ReadinessProbe.HTTPGet.Path)
	assert.Equal(t, c.Ports[0].Name, c.LivenessProbe.HTTPGet.Port)
	assert.Equal(t, c.Ports[0].Name, c.ReadinessProbe.HTTPGet.Port)

	// Resources: both requests and limits, limits no lower than requests.
	for _, r := range []string{"cpu", "memory"} {
		req, lim := c.Resources.Requests[r], c.Resources.Limits[r]
		require.NotEmpty(t, req, "requests.%s", r)
		require.NotEmpty(t, lim, "limits.%s", r)
		assert.LessOrEqual(t, quantity(t, req), quantity(t, lim), "%s: request above limit", r)
	}

	// The targets: the ConfigMap, mounted read-only where --config.file points.
	require.Len(t, c.VolumeMounts, 1)
	mount := c.VolumeMounts[0]
	assert.True(t, mount.ReadOnly)
	assert.Contains(t, c.Args, "--config.file="+mount.MountPath+"/"+filepath.Base(TargetsFile))
	require.Len(t, pod.Volumes, 1)
	assert.Equal(t, mount.Name, pod.Volumes[0].Name)
	assert.Equal(t, m.kustomization.ConfigMapGenerator[0].Name, pod.Volumes[0].ConfigMap.Name)
}

func TestServiceAndServiceMonitor(t *testing.T) {
	m := loadManifests(t)
	pod := m.daemonSet.Spec.Template
	svc := m.service
	require.NotEmpty(t, svc.Spec.Selector)
	for k, v := range svc.Spec.Selector {
		assert.Equal(t, v, pod.Metadata.Labels[k], "the Service must select the DaemonSet's pods")
	}
	require.Len(t, svc.Spec.Ports, 1)
	port := svc.Spec.Ports[0]
	assert.Equal(t, 9847, port.Port)
	assert.Equal(t, pod.Spec.Containers[0].Ports[0].Name, port.TargetPort)

	sm := m.serviceMonitor
	// The job label is the Service's name; the rules select job="vramfit".
	assert.Equal(t, "vramfit", svc.Metadata.Name)
	require.NotEmpty(t, sm.Spec.Selector.MatchLabels)
	for k, v := range sm.Spec.Selector.MatchLabels {
		assert.Equal(t, v, svc.Metadata.Labels[k], "the ServiceMonitor must select the Service")
	}
	require.Len(t, sm.Spec.Endpoints, 1)
	ep := sm.Spec.Endpoints[0]
	assert.Equal(t, port.Name, ep.Port)
	assert.Equal(t, "/metrics", ep.Path)
	instanceFromNode := false
	for _, r := range ep.Relabelings {
		instanceFromNode = instanceFromNode || r.TargetLabel == "instance" && slices.Equal(r.SourceLabels, []string{"__meta_kubernetes_pod_node_name"})
	}
	assert.True(t, instanceFromNode, "instance must be the node's name: alerts and the dashboard speak of hosts")
}

// TestKustomizeBuild renders the kustomization as `kubectl apply -k` does and
// checks what kustomize adds: the namespace and the hashed ConfigMap name in
// the DaemonSet.
func TestKustomizeBuild(t *testing.T) {
	// kubectl kustomize where kubectl is installed, else kustomize build
	// ($KUSTOMIZE: make passes the one it installs).
	var cmd *exec.Cmd
	if kubectl, err := exec.LookPath("kubectl"); err == nil {
		cmd = exec.Command(kubectl, "kustomize", kubernetesDir)
	} else {
		cmd = exec.Command(lookTool(t, "KUSTOMIZE", "kustomize", "install kubectl, or run `make kustomize-install`"), "build", kubernetesDir)
	}
	out, err := cmd.Output()
	require.NoError(t, err, "%s", cmd)

	targets, err := os.ReadFile(TargetsFile)
	require.NoError(t, err)
	dec := yaml.NewDecoder(bytes.NewReader(out))
	var configMapName, volumeName string
	kinds := 0
	for {
		var doc struct {
			object `yaml:",inline"`
			Data   map[string]string `yaml:"data"`
			Spec   struct {
				Template struct {
					Spec podSpec `yaml:"spec"`
				} `yaml:"template"`
			} `yaml:"spec"`
		}
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		kinds++
		if doc.Kind != "Namespace" {
			assert.Equal(t, "vramfit", doc.Metadata.Namespace, doc.Kind)
		}
		switch doc.Kind {
		case "ConfigMap":
			configMapName = doc.Metadata.Name
			assert.Equal(t, string(targets), doc.Data["targets.yml"])
		case "DaemonSet":
			volumeName = doc.Spec.Template.Spec.Volumes[0].ConfigMap.Name
		}
	}
	assert.Equal(t, 6, kinds, "Namespace, ConfigMap, Service, DaemonSet, PrometheusRule, ServiceMonitor")
	assert.Regexp(t, `^vramfit-targets-[a-z0-9]+$`, configMapName)
	assert.Equal(t, configMapName, volumeName)
}

// quantity parses the Kubernetes quantities the manifests use (plain, m, Ki,
// Mi, Gi) into a comparable number.
func quantity(t *testing.T, q string) float64 {
	t.Helper()
	scale := map[string]float64{"m": 1e-3, "Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30}
	for suffix, factor := range scale {
		if num, ok := strings.CutSuffix(q, suffix); ok {
			v, err := strconv.ParseFloat(num, 64)
			require.NoError(t, err, q)
			return v * factor
		}
	}
	v, err := strconv.ParseFloat(q, 64)
	require.NoError(t, err, "quantity %q: use a plain number or the suffixes m, Ki, Mi, Gi", q)
	return v
}

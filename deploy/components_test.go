package deploy

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// component is a kustomize Component of JSON patches, as the holder
// collectors' components are written.
type component struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Patches    []struct {
		Target struct {
			Kind string `yaml:"kind"`
			Name string `yaml:"name"`
		} `yaml:"target"`
		Patch string `yaml:"patch"`
	} `yaml:"patches"`
}

type patchOp struct {
	Op    string `yaml:"op"`
	Path  string `yaml:"path"`
	Value any    `yaml:"value"`
}

// applyComponents applies the components' patches to the base manifests as
// kustomize does (add and replace, RFC 6902), and returns the DaemonSet and
// the Namespace. Applying them proves every path exists in the base: a
// replace of a field the base lacks fails here as in kustomize.
func applyComponents(t *testing.T, names ...string) (daemonSet, namespace map[string]any) {
	t.Helper()
	objects := map[string]map[string]any{}
	for kind, file := range map[string]string{"DaemonSet": "daemonset.yaml", "Namespace": "namespace.yaml"} {
		data, err := os.ReadFile(filepath.Join(kubernetesDir, file))
		require.NoError(t, err)
		var o map[string]any
		require.NoError(t, yaml.Unmarshal(data, &o))
		objects[kind] = o
	}
	for _, name := range names {
		path := filepath.Join(kubernetesDir, "components", name, "kustomization.yaml")
		data, err := os.ReadFile(path)
		require.NoError(t, err)
		var c component
		require.NoError(t, yaml.Unmarshal(data, &c), path)
		assert.Equal(t, "kustomize.config.k8s.io/v1alpha1", c.APIVersion, path)
		assert.Equal(t, "Component", c.Kind, path)
		for _, p := range c.Patches {
			o, ok := objects[p.Target.Kind]
			require.True(t, ok, "%s patches a %s, which the kit has not", path, p.Target.Kind)
			require.Equal(t, "vramfit", p.Target.Name, path)
			var ops []patchOp
			require.NoError(t, yaml.Unmarshal([]byte(p.Patch), &ops), path)
			for _, op := range ops {
				require.NoError(t, applyOp(o, op), "%s: %s %s", path, op.Op, op.Path)
			}
		}
	}
	return objects["DaemonSet"], objects["Namespace"]
}

// applyOp applies one add or replace at op.Path (a JSON pointer).
func applyOp(doc map[string]any, op patchOp) error {
	keys := strings.Split(strings.TrimPrefix(op.Path, "/"), "/")
	for i, k := range keys {
		keys[i] = strings.NewReplacer("~1", "/", "~0", "~").Replace(k)
	}
	var parent any = doc
	for _, k := range keys[:len(keys)-1] {
		next, err := child(parent, k)
		if err != nil {
			return err
		}
		parent = next
	}
	last := keys[len(keys)-1]
	switch p := parent.(type) {
	case map[string]any:
		if _, ok := p[last]; op.Op == "replace" && !ok {
			return fmt.Errorf("replace: no %q to replace", last)
		}
		p[last] = op.Value
		return nil
	case []any:
		if op.Op != "add" || last != "-" {
			return fmt.Errorf("%s in a list: only add at the end is used", op.Op)
		}
		// The list is held by its parent: append through a pointer walk.
		return appendAt(doc, keys[:len(keys)-1], op.Value)
	}
	return fmt.Errorf("%T is no object or list", parent)
}

func child(node any, key string) (any, error) {
	switch n := node.(type) {
	case map[string]any:
		v, ok := n[key]
		if !ok {
			return nil, fmt.Errorf("no %q", key)
		}
		return v, nil
	case []any:
		i, err := strconv.Atoi(key)
		if err != nil || i < 0 || i >= len(n) {
			return nil, fmt.Errorf("no item %q", key)
		}
		return n[i], nil
	}
	return nil, fmt.Errorf("%T has no %q", node, key)
}

func appendAt(doc map[string]any, keys []string, value any) error {
	parent, err := walk(doc, keys[:len(keys)-1])
	if err != nil {
		return err
	}
	last := keys[len(keys)-1]
	switch p := parent.(type) {
	case map[string]any:
		p[last] = append(p[last].([]any), value)
	case []any:
		i, _ := strconv.Atoi(last)
		p[i] = append(p[i].([]any), value)
	}
	return nil
}

func walk(doc any, keys []string) (any, error) {
	for _, k := range keys {
		next, err := child(doc, k)
		if err != nil {
			return nil, err
		}
		doc = next
	}
	return doc, nil
}

// get is the value at path ("/"-separated), then at the keys that hold a
// "/" themselves (labels).
func get(t *testing.T, doc any, path string, keys ...string) any {
	t.Helper()
	v, err := walk(doc, append(strings.Split(path, "/"), keys...))
	require.NoError(t, err, path)
	return v
}

// The components turn the holder collectors on with what each needs, and
// say that the namespace leaves the restricted Pod Security Standard; the
// base stays restricted.
func TestHolderComponents(t *testing.T) {
	ds, ns := applyComponents(t)
	assert.Equal(t, "restricted", get(t, ns, "metadata/labels", "pod-security.kubernetes.io/enforce"))
	assert.NotContains(t, get(t, ds, "spec/template/spec"), "hostPID")

	t.Run("processes", func(t *testing.T) {
		ds, ns := applyComponents(t, "processes")
		spec := get(t, ds, "spec/template/spec")
		assert.Equal(t, true, get(t, spec, "hostPID"))
		assert.Contains(t, get(t, spec, "containers/0/args"), "--collector.processes")
		assert.Equal(t, true, get(t, spec, "securityContext/runAsNonRoot"), "process names need no root")
		assert.Equal(t, "privileged", get(t, ns, "metadata/labels", "pod-security.kubernetes.io/enforce"))
	})
	t.Run("pods", func(t *testing.T) {
		ds, ns := applyComponents(t, "pods")
		spec := get(t, ds, "spec/template/spec")
		args := get(t, spec, "containers/0/args")
		assert.Contains(t, args, "--collector.pods")
		assert.Contains(t, args, "--kubelet.pod-resources-socket=/var/lib/kubelet/pod-resources/kubelet.sock")
		assert.Contains(t, get(t, spec, "volumes"), map[string]any{"name": "pod-resources",
			"hostPath": map[string]any{"path": "/var/lib/kubelet/pod-resources", "type": "Directory"}})
		assert.Contains(t, get(t, spec, "containers/0/volumeMounts"), map[string]any{"name": "pod-resources",
			"mountPath": "/var/lib/kubelet/pod-resources", "readOnly": true})
		assert.Equal(t, 0, get(t, spec, "securityContext/runAsUser"))
		// Root, but nothing more: the container's own hardening stays.
		assert.Equal(t, false, get(t, spec, "containers/0/securityContext/allowPrivilegeEscalation"))
		assert.Equal(t, []any{"ALL"}, get(t, spec, "containers/0/securityContext/capabilities/drop"))
		assert.Equal(t, "privileged", get(t, ns, "metadata/labels", "pod-security.kubernetes.io/enforce"))
	})
	t.Run("both", func(t *testing.T) {
		ds, _ := applyComponents(t, "processes", "pods")
		args := get(t, ds, "spec/template/spec/containers/0/args")
		assert.Contains(t, args, "--collector.processes")
		assert.Contains(t, args, "--collector.pods")
	})
}

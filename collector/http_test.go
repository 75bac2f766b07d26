package collector

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vramfit/vramfit/nvml"
)

// serveOnce answers one request with h.
func serveOnce(t *testing.T, h http.Handler, method, target string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, target, nil))
	return rec
}

func TestReloadHandler(t *testing.T) {
	path := writeTargets(t, oneTarget)
	store := loadedStore(t, path)
	enabled := ReloadHandler(store, true)

	for _, method := range []string{http.MethodGet, http.MethodPut, http.MethodDelete} {
		rec := serveOnce(t, enabled, method, "/-/reload")
		assert.Equal(t, http.StatusMethodNotAllowed, rec.Code, method)
		assert.Equal(t, http.MethodPost, rec.Header().Get("Allow"), method)
	}

	t.Run("lifecycle disabled", func(t *testing.T) {
		require.NoError(t, os.WriteFile(path, []byte(twoTargets), 0o600))
		rec := serveOnce(t, ReloadHandler(store, false), http.MethodPost, "/-/reload")
		assert.Equal(t, http.StatusForbidden, rec.Code)
		assert.Contains(t, rec.Body.String(), "--web.enable-lifecycle")
		assert.Equal(t, []string{"chat"}, names(store), "nothing reloaded")
	})

	t.Run("valid", func(t *testing.T) {
		rec := serveOnce(t, enabled, http.MethodPost, "/-/reload")
		assert.Equal(t, http.StatusOK, rec.Code)
		assert.Equal(t, "Loaded 2 targets.\n", rec.Body.String())
		assert.Equal(t, []string{"chat", "tiny"}, names(store))
	})

	t.Run("unchanged", func(t *testing.T) {
		rec := serveOnce(t, enabled, http.MethodPost, "/-/reload")
		assert.Equal(t, http.StatusOK, rec.Code)
		assert.Equal(t, "The targets file is unchanged.\n", rec.Body.String())
	})

	t.Run("invalid", func(t *testing.T) {
		require.NoError(t, os.WriteFile(path, []byte(badTarget), 0o600))
		rec := serveOnce(t, enabled, http.MethodPost, "/-/reload")
		assert.Equal(t, http.StatusInternalServerError, rec.Code)
		assert.Equal(t, reloadFailed, rec.Body.String())
		assert.Equal(t, []string{"chat", "tiny"}, names(store), "the old targets are kept")
		ok, _ := reloadGauges(t, store)
		assert.Equal(t, 0.0, ok)
	})

	// The parser quotes what it cannot read: a client, who may be anyone
	// who reaches the port, must not get a byte of a file the targets name.
	t.Run("a model file that is a secret", func(t *testing.T) {
		secret := filepath.Join(t.TempDir(), "shadow")
		require.NoError(t, os.WriteFile(secret, []byte("root:$6$hash:19000::::::\n"), 0o600))
		require.NoError(t, os.WriteFile(path, []byte("targets:\n  - {name: a, model: {hf_config: "+secret+"}}\n"), 0o600))
		_, err := LoadTargets(path)
		require.ErrorContains(t, err, "'r'", "the parser's error quotes the file")
		rec := serveOnce(t, enabled, http.MethodPost, "/-/reload")
		assert.Equal(t, http.StatusInternalServerError, rec.Code)
		assert.Equal(t, reloadFailed, rec.Body.String())
	})
}

const reloadFailed = "Reloading the targets file failed; the targets loaded before are kept. The agent's log says why, as does `vramfit check-config` on the file.\n"

// A reload waits for the one in progress only so long: a reload that never
// ends cannot park every later request for ever.
func TestReloadHandlerBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := loadedStore(t, writeTargets(t, oneTarget))
		store.reloading <- struct{}{} // a reload that does not end
		start := time.Now()
		rec := serveOnce(t, ReloadHandler(store, true), http.MethodPost, "/-/reload")
		assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
		assert.Equal(t, "The reload did not finish within 10s; vramfit_config_last_reload_successful tells its outcome.\n", rec.Body.String())
		assert.Equal(t, reloadTimeout, time.Since(start))
		<-store.reloading
		assert.Equal(t, http.StatusOK, serveOnce(t, ReloadHandler(store, true), http.MethodPost, "/-/reload").Code)
	})
}

// A target may be named anything a label value can hold; pages and JSON
// carry it as text, never as markup.
const scriptTargets = `targets:
  - {name: "<script>alert(1)</script>", model: {preset: llama-3-8b}, workload: inference, context: 8192, batch: 16}
  - {name: train, model: {preset: llama-3-8b}, workload: training, context: 4096, batch: 1}
`

func TestStatusPage(t *testing.T) {
	c, _ := newTestCollector(t, openFleet(t, "testdata/fleets/mig.yml"), writeTargets(t, scriptTargets))
	rec := serveOnce(t, c.StatusHandler("/metrics"), http.MethodGet, "/")
	require.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, "text/html; charset=utf-8", rec.Header().Get("Content-Type"))
	body := rec.Body.String()

	assert.NotContains(t, body, "<script")
	assert.Contains(t, body, "&lt;script&gt;alert(1)&lt;/script&gt;")
	// Every device with its memory, the split GPU and its instances.
	for _, want := range []string{
		"GPU 0", "GPU 0 MIG 3g.40gb", "GPU 0 MIG 1g.10gb", "GPU 1",
		"GPU-00000000-0000-0000-0000-0000000000a0", "MIG-00000000-0000-0000-0000-000000000002",
		"MIG mode: its instances below hold its memory",
		"39.25 GiB", // the 3g.40gb instance's 40192 MiB, all free
		"Driver 535.183.01, CUDA 12.2",
		`href="/metrics"`, `href="/api/v1/targets"`, `href="/api/v1/inventory"`, `href="` + docsURL + `"`,
		"Planned on this host's GPU model: NVIDIA A100-SXM4-80GB, 79.50 GiB without the driver&#39;s reserve",
		"on GPU 0 MIG 3g.40gb",
		"kv_cache", "optimizer",
	} {
		assert.Contains(t, body, want)
	}
	// No external assets: nothing is loaded from anywhere.
	for _, tag := range []string{"<link", "<img", "src=", "@import", "url("} {
		assert.NotContains(t, body, tag)
	}
}

func TestStatusPageWithoutNVML(t *testing.T) {
	fake := fleetFrom(t, "gpus: [{board: rtx-4090}]\nfaults: {unavailable: \"driver not loaded\"}\n")
	c, _ := newTestCollector(t, fake, writeTargets(t, scriptTargets))
	body := serveOnce(t, c.StatusHandler("/metrics"), http.MethodGet, "/").Body.String()
	assert.Contains(t, body, "The GPUs cannot be read: nvml unavailable: driver not loaded")
	assert.Contains(t, body, "the verdicts are unknown")
	assert.Contains(t, body, "&lt;script&gt;alert(1)&lt;/script&gt;")
}

func TestTargetsAPI(t *testing.T) {
	c, _ := newTestCollector(t, openFleet(t, "testdata/fleets/two-h100.yml"), testTargets)
	rec := serveOnce(t, c.TargetsHandler(), http.MethodGet, "/api/v1/targets")
	require.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, "application/json; charset=utf-8", rec.Header().Get("Content-Type"))
	var resp TargetsResponse
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &resp))

	require.NotNil(t, resp.GPU)
	assert.Equal(t, h100Name, resp.GPU.Name)
	assert.Equal(t, int64(h100Offered), resp.GPU.MemoryBytes)
	assert.Empty(t, resp.NVMLError)
	// The API answers what the metrics answer.
	metrics := gaugeValues(t, c)
	require.Len(t, resp.Targets, 5)
	for _, ts := range resp.Targets {
		require.NotNil(t, ts.Now, ts.Target)
		assert.Equal(t, metrics["vramfit_target_fits/"+ts.Target], boolValue(ts.Now.Fits), ts.Target)
		assert.Equal(t, metrics["vramfit_target_fits_when_idle/"+ts.Target], boolValue(ts.Now.FitsWhenIdle), ts.Target)
		assert.Equal(t, metrics["vramfit_target_headroom_bytes/"+ts.Target], float64(ts.Now.HeadroomBytes), ts.Target)
		require.NotNil(t, ts.GPUsRequired, ts.Target)
		assert.Equal(t, metrics["vramfit_target_gpus_required/"+ts.Target], float64(*ts.GPUsRequired), ts.Target)
		assert.Equal(t, metrics["vramfit_target_required_bytes/total,"+ts.Target], float64(*ts.PerGPUBytes.Total), ts.Target)
		if batch, ok := metrics["vramfit_target_max_batch/"+ts.Target]; ok {
			require.NotNil(t, ts.Now.MaxBatch, ts.Target)
			assert.Equal(t, batch, float64(*ts.Now.MaxBatch), ts.Target)
		} else {
			assert.Nil(t, ts.Now.MaxBatch, ts.Target)
		}
	}
	// chat goes on the idle GPU 1.
	assert.Equal(t, []string{"GPU-00000000-0000-0000-0000-000000000001"}, resp.Targets[0].Now.Devices)
	// Together, as the host-level metrics say: big, train and huge find no
	// room once the others are placed (huge fits on no count at all).
	require.NotNil(t, resp.Together)
	assert.Equal(t, metrics["vramfit_targets_fit_together"], boolValue(resp.Together.Fits))
	assert.Equal(t, metrics["vramfit_targets_fit_together_when_idle"], boolValue(resp.Together.FitsWhenIdle))
	assert.Equal(t, []string{"big", "train", "huge"}, resp.Together.Left)
}

func TestTargetsAPIWithoutNVML(t *testing.T) {
	fake := fleetFrom(t, "gpus: [{board: rtx-4090}]\nfaults: {unavailable: \"driver not loaded\"}\n")
	c, _ := newTestCollector(t, fake, writeTargets(t, scriptTargets))
	rec := serveOnce(t, c.TargetsHandler(), http.MethodGet, "/api/v1/targets")
	require.Equal(t, http.StatusOK, rec.Code)
	assert.NotContains(t, rec.Body.String(), "<script>", "JSON escapes markup characters")
	var resp TargetsResponse
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &resp))
	assert.Nil(t, resp.GPU)
	assert.Nil(t, resp.Together)
	assert.Equal(t, "nvml unavailable: driver not loaded", resp.NVMLError)
	require.Len(t, resp.Targets, 2)
	assert.Equal(t, "<script>alert(1)</script>", resp.Targets[0].Target)
	assert.Nil(t, resp.Targets[0].Now)
	assert.Nil(t, resp.Targets[0].GPUsRequired, "no GPU model to count")
}

func TestInventoryAPI(t *testing.T) {
	fake := openFleet(t, "testdata/fleets/mig.yml")
	c, _ := newTestCollector(t, fake, testTargets)
	rec := serveOnce(t, c.InventoryHandler(), http.MethodGet, "/api/v1/inventory")
	require.Equal(t, http.StatusOK, rec.Code)
	var got nvml.Inventory
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &got))
	snapshot, err := fake.Snapshot(context.Background())
	require.NoError(t, err)
	// The same shape as `vramfit inventory --output json`.
	assert.Equal(t, nvml.NewInventory(snapshot), got)
	require.Len(t, got.Devices, 2)
	assert.Len(t, got.Devices[0].MIGInstances, 2)

	t.Run("NVML unavailable", func(t *testing.T) {
		fake := fleetFrom(t, "gpus: [{board: rtx-4090}]\nfaults: {unavailable: \"driver not loaded\"}\n")
		c, _ := newTestCollector(t, fake, testTargets)
		rec := serveOnce(t, c.InventoryHandler(), http.MethodGet, "/api/v1/inventory")
		assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
		var body map[string]string
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
		assert.True(t, strings.HasPrefix(body["error"], "nvml unavailable"), body["error"])
	})
}

package collector

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vramfit/vramfit/estimator"
	"github.com/vramfit/vramfit/estimator/targetsfile"
)

const (
	oneTarget = `targets:
  - {name: chat, model: {preset: llama-3-8b}, workload: inference, context: 8192, batch: 16}
`
	twoTargets = `targets:
  - {name: chat, model: {preset: llama-3-8b}, workload: inference, context: 8192, batch: 16}
  - {name: tiny, model: {preset: gpt2}, workload: inference}
`
	// batch 0 on line 2: the estimator's error names file, line and field.
	badTarget = `targets:
  - {name: chat, model: {preset: llama-3-8b}, batch: 0}
`
)

// writeTargets writes content to a targets file in a fresh directory.
func writeTargets(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "targets.yml")
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	return path
}

func names(s *TargetStore) []string {
	var out []string
	for _, t := range s.Targets().targets {
		out = append(out, t.name)
	}
	return out
}

func reloadGauges(t *testing.T, s *TargetStore) (ok, timestamp float64) {
	t.Helper()
	got := gaugeValues(t, s)
	return got["vramfit_config_last_reload_successful"], got["vramfit_config_last_reload_success_timestamp_seconds"]
}

func TestReload(t *testing.T) {
	path := writeTargets(t, oneTarget)
	s := NewTargetStore(path, discard())
	require.False(t, s.Ready())

	changed, err := s.Reload()
	require.NoError(t, err)
	assert.True(t, changed)
	assert.True(t, s.Ready())
	assert.Equal(t, []string{"chat"}, names(s))
	ok, firstLoad := reloadGauges(t, s)
	assert.Equal(t, 1.0, ok)
	assert.InDelta(t, float64(time.Now().Unix()), firstLoad, 60)

	t.Run("unchanged file is a no-op", func(t *testing.T) {
		before, work := s.Targets(), s.work.Load()
		changed, err := s.Reload()
		require.NoError(t, err)
		assert.False(t, changed)
		assert.Same(t, before, s.Targets())
		assert.Equal(t, work, s.work.Load(), "nothing estimated again")
		ok, _ := reloadGauges(t, s)
		assert.Equal(t, 1.0, ok)
	})

	t.Run("valid change", func(t *testing.T) {
		require.NoError(t, os.WriteFile(path, []byte(twoTargets), 0o600))
		changed, err := s.Reload()
		require.NoError(t, err)
		assert.True(t, changed)
		assert.Equal(t, []string{"chat", "tiny"}, names(s))
	})

	t.Run("invalid change keeps the old targets", func(t *testing.T) {
		before := s.Targets()
		_, lastSuccess := reloadGauges(t, s)
		require.NoError(t, os.WriteFile(path, []byte(badTarget), 0o600))
		changed, err := s.Reload()
		require.Error(t, err)
		assert.False(t, changed)
		assert.Contains(t, err.Error(), path+":2: targets[0].batch:")
		assert.Same(t, before, s.Targets())
		ok, timestamp := reloadGauges(t, s)
		assert.Equal(t, 0.0, ok)
		assert.Equal(t, lastSuccess, timestamp, "the last success is still the one before")
	})

	t.Run("a missing file keeps the old targets", func(t *testing.T) {
		require.NoError(t, os.Remove(path))
		_, err := s.Reload()
		require.ErrorIs(t, err, os.ErrNotExist)
		assert.Equal(t, []string{"chat", "tiny"}, names(s))
	})

	t.Run("fixed again", func(t *testing.T) {
		require.NoError(t, os.WriteFile(path, []byte(oneTarget), 0o600))
		_, err := s.Reload()
		require.NoError(t, err)
		assert.Equal(t, []string{"chat"}, names(s))
		ok, _ := reloadGauges(t, s)
		assert.Equal(t, 1.0, ok)
	})
}

// A first load that fails leaves the store not ready and empty.
func TestFirstLoadFails(t *testing.T) {
	s := NewTargetStore(writeTargets(t, badTarget), discard())
	_, err := s.Reload()
	require.ErrorIs(t, err, estimator.ErrInvalidTarget)
	assert.False(t, s.Ready())
	assert.Nil(t, s.Targets())
	ok, _ := reloadGauges(t, s)
	assert.Equal(t, 0.0, ok)
}

// A file larger than the estimator accepts is refused without being read
// whole.
func TestReloadOversizedFile(t *testing.T) {
	path := writeTargets(t, "targets: []\n"+strings.Repeat("#", targetsfile.MaxSize))
	_, err := NewTargetStore(path, discard()).Reload()
	require.ErrorIs(t, err, estimator.ErrInvalidTarget)
}

// Without a targets file the store is ready with no targets, and reloads
// are no-ops.
func TestNoTargetsFile(t *testing.T) {
	logs := &recordingHandler{}
	s := NewTargetStore("", slog.New(logs))
	changed, err := s.Reload()
	require.NoError(t, err)
	assert.True(t, changed)
	assert.True(t, s.Ready())
	assert.Equal(t, 0, s.Targets().Len())
	changed, err = s.Reload()
	require.NoError(t, err)
	assert.False(t, changed)
	// No file was read: a "loaded the targets file" line with file=""
	// would say otherwise (serve logs that it runs without one).
	assert.NotContains(t, logs.logged(), "INFO loaded the targets file")
}

// A reload of new targets plans them on the devices read then, searches
// their max_batch and builds their series, so that the first scrape after
// it does no estimator work: it costs what a steady one does.
func TestReloadPlansForKnownDevices(t *testing.T) {
	path := writeTargets(t, oneTarget)
	c, store := newTestCollector(t, openFleet(t, "testdata/fleets/two-h100.yml"), path)
	testutil.CollectAndCount(c)
	require.NoError(t, os.WriteFile(path, []byte(twoTargets), 0o600))
	_, err := store.Reload()
	require.NoError(t, err)
	work := store.work.Load()
	assert.Equal(t, 2, testutil.CollectAndCount(c, "vramfit_target_gpus_required"))
	assert.Equal(t, work, store.work.Load(), "the first scrape after the reload did estimator work")
}

// Concurrent reloads and scrapes: reloads run one at a time, readers see
// whole loads only (run with -race).
func TestConcurrentReloadsAndScrapes(t *testing.T) {
	path := writeTargets(t, oneTarget)
	c, store := newTestCollector(t, openFleet(t, "testdata/fleets/two-h100.yml"), path)
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			for j := range 5 {
				content := oneTarget
				if (i+j)%2 == 0 {
					content = twoTargets
				}
				// Writers race on the file: a reload may read either
				// content, never a torn one, as each write replaces it.
				tmp := filepath.Join(filepath.Dir(path), filepath.Base(path)+"."+string(rune('a'+i)))
				if err := os.WriteFile(tmp, []byte(content), 0o600); err == nil {
					_ = os.Rename(tmp, path)
				}
				_, err := store.Reload()
				assert.NoError(t, err)
			}
		})
		wg.Go(func() {
			for range 5 {
				n := testutil.CollectAndCount(c, "vramfit_target_info")
				assert.Contains(t, []int{1, 2}, n)
			}
		})
	}
	wg.Wait()
}

// A reload that fails is logged as an error; the file put back as it was
// when it last loaded (an unchanged SHA-256, so nothing is parsed again)
// ends the failure, and the log says so, as the gauge does. Before, only a
// debug line followed: the operator who fixed the file saw the error and
// then nothing at the default level.
func TestReloadRecoveryLogged(t *testing.T) {
	path := writeTargets(t, oneTarget)
	logs := &recordingHandler{}
	s := NewTargetStore(path, slog.New(logs))
	_, err := s.Reload()
	require.NoError(t, err)

	require.NoError(t, os.WriteFile(path, []byte(badTarget), 0o600))
	_, err = s.Reload()
	require.Error(t, err)
	require.NoError(t, os.WriteFile(path, []byte(oneTarget), 0o600))
	changed, err := s.Reload()
	require.NoError(t, err)
	assert.False(t, changed, "the targets in use are the file's")
	_, err = s.Reload() // unchanged and not failing: nothing more to say
	require.NoError(t, err)

	var atInfo []string
	for _, r := range logs.logged() {
		if !strings.HasPrefix(r, "DEBUG ") {
			atInfo = append(atInfo, r)
		}
	}
	assert.Equal(t, []string{
		"INFO loaded the targets file",
		"ERROR reloading the targets file failed; keeping the targets loaded before",
		"INFO the targets file loads again, unchanged since it last loaded",
	}, atInfo)
	ok, _ := reloadGauges(t, s)
	assert.Equal(t, 1.0, ok)
}

package collector

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// BenchmarkScrape is one whole scrape of the built-in dgx-h100 fleet (its
// snapshot included) with n targets, gathered as promhttp would.
func BenchmarkScrape(b *testing.B) {
	for _, n := range []int{6, 1000} {
		b.Run(fmt.Sprintf("targets=%d", n), func(b *testing.B) {
			var file strings.Builder
			file.WriteString("targets:\n")
			presets := []string{"llama-3-8b", "llama-3-70b", "mistral-7b", "mixtral-8x7b", "gpt2", "qwen2.5-7b"}
			for i := range n {
				fmt.Fprintf(&file, "  - {name: t%d, model: {preset: %s}, context: %d, batch: %d}\n",
					i, presets[i%len(presets)], 1024<<(i%4), 1+i%16)
			}
			path := filepath.Join(b.TempDir(), "targets.yml")
			if err := os.WriteFile(path, []byte(file.String()), 0o600); err != nil {
				b.Fatal(err)
			}
			fake := openFleetB(b)
			store := NewTargetStore(path, discard())
			if _, err := store.Reload(); err != nil {
				b.Fatal(err)
			}
			reg := prometheus.NewRegistry()
			reg.MustRegister(New(fake, store, testTimeout, discard()), store)
			if _, err := reg.Gather(); err != nil { // plans the targets on the fleet once
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := reg.Gather(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

//go:build linux

package e2e

import (
	"bytes"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vramfit/vramfit/nvml"
)

// rightMargin is the strip along the right edge of a screenshot that the
// status page never draws in: its body is at most 72rem (1152 px) wide and
// centred, so at 1280 px 64 px are left on each side. A table that
// overflows its column reaches into it.
const rightMargin = 48

// checkFleetPages starts an agent on each built-in fleet with the targets
// loaded now (the example's and the unfit ones, whose reasons are the
// longest text of the page), saves the status page of each as
// status-FLEET.png, and checks that every target is on it and that nothing
// is drawn beyond the page's column.
func (w *world) checkFleetPages(t *testing.T) {
	t.Helper()
	targets := readTargets(t, w.agent.targets)
	for _, fleet := range nvml.Fleets() {
		a := &agent{binary: w.agent.binary, addr: freeAddress(t), fleet: fleet, targets: w.agent.targets,
			log: filepath.Join(w.out, "vramfit-"+fleet+".log"), kubelet: w.agent.kubelet}
		truncate(t, a.log)
		a.start(t)
		url := a.url("/")
		dom := w.headless(t, url, "--dump-dom")
		require.NoError(t, os.WriteFile(filepath.Join(w.out, "status-"+fleet+".html"), dom, 0o644))
		text := pageText(dom)
		for _, target := range targets {
			require.Contains(t, text, target.name(), "%s: target on the status page", fleet)
		}
		path := w.screenshot(t, url, "status-"+fleet+".png")
		a.stop(t)
		requireBlankRightMargin(t, path)
		t.Logf("status page on %s: %s", fleet, path)
	}
}

// requireBlankRightMargin fails when any pixel of the screenshot's right
// margin is not the page's white background.
func requireBlankRightMargin(t *testing.T, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	img, err := png.Decode(bytes.NewReader(data))
	require.NoError(t, err)
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Max.X - rightMargin; x < b.Max.X; x++ {
			if !white(img, x, y) {
				t.Fatalf("%s: the page reaches into its right margin at (%d, %d): a table overflows", path, x, y)
			}
		}
	}
}

func white(img image.Image, x, y int) bool {
	r, g, b, _ := img.At(x, y).RGBA()
	return r == 0xffff && g == 0xffff && b == 0xffff
}

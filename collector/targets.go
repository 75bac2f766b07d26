package collector

import (
	"crypto/sha256"
	"fmt"
	"sync/atomic"

	"github.com/vramfit/vramfit/estimator"
	"github.com/vramfit/vramfit/estimator/report"
	"github.com/vramfit/vramfit/estimator/targetsfile"
)

// Targets is one load of a targets file with every target estimated. It
// is immutable: a reload builds a new one and swaps it in whole.
type Targets struct {
	checksum [sha256.Size]byte
	targets  []*target
}

// target is one target and what its estimation settles once, at load.
type target struct {
	name string
	est  *estimator.Estimation
	// own is the estimate in the target's own layout: the info labels, and
	// the requirement while no GPU can be read.
	own report.Report
	// batchKnown says whether max_batch has an answer: an inference target
	// of known architecture estimated in detail.
	batchKnown bool
	// pinned: this host is meant to run the target.
	pinned bool
	// serving says that a serving engine's accounting (vLLM, SGLang)
	// decides whether the target starts, its KV cache and concurrency.
	serving bool
}

// LoadTargets reads a targets file, parses it strictly and estimates every
// target. Errors name the file, and where the parser knows them the line
// and field.
func LoadTargets(path string) (*Targets, error) {
	data, err := targetsfile.Read(path)
	if err != nil {
		return nil, err
	}
	return newTargets(path, data, new(atomic.Uint64))
}

// Len is the number of targets.
func (t *Targets) Len() int { return len(t.targets) }

// Estimations returns the targets' estimations in file order.
func (t *Targets) Estimations() []*estimator.Estimation {
	out := make([]*estimator.Estimation, len(t.targets))
	for i, tg := range t.targets {
		out[i] = tg.est
	}
	return out
}

// NewTargets estimates targets that come from elsewhere than a targets
// file (the target flags of `vramfit plan`).
func NewTargets(targets []estimator.Target) (*Targets, error) {
	return estimateTargets(targets, new(atomic.Uint64))
}

// newTargets parses data (the content of path) and estimates each target,
// counting the estimates in work.
func newTargets(path string, data []byte, work *atomic.Uint64) (*Targets, error) {
	parsed, err := targetsfile.Parse(data, path)
	if err != nil {
		return nil, err
	}
	set, err := estimateTargets(parsed, work)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	set.checksum = sha256.Sum256(data)
	return set, nil
}

// estimateTargets estimates each of parsed, counting the estimates in work.
func estimateTargets(parsed []estimator.Target, work *atomic.Uint64) (*Targets, error) {
	set := &Targets{targets: make([]*target, 0, len(parsed))}
	for _, t := range parsed {
		work.Add(1)
		est, err := estimator.Estimate(t)
		if err != nil {
			return nil, err
		}
		own := report.New(est, nil)
		set.targets = append(set.targets, &target{
			name: t.Name,
			est:  est,
			own:  own,
			batchKnown: own.Workload == estimator.Inference && own.Method == estimator.Detailed &&
				own.KVCacheBytesPerToken != nil,
			pinned:  t.Pinned,
			serving: est.Serves() && own.KVCacheBytesPerToken != nil,
		})
	}
	return set, nil
}

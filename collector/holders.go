package collector

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vramfit/vramfit/nvml"
)

// collectHolders runs the opt-in collectors of who holds the GPUs, each
// failing alone: the processes from the scrape's snapshot, the pods from
// the kubelet's answer (asked for beside the snapshot; nil when off).
func (c *Collector) collectHolders(ch chan<- prometheus.Metric, s nvml.Snapshot, nvmlErr error, pods <-chan podsAnswer) {
	if c.processes != nil {
		start := time.Now()
		err := c.processes.collect(ch, s, nvmlErr)
		if nvmlErr == nil { // else the nvml collector has logged it
			c.noteFailure(processesCollector, err)
		}
		collectScrape(ch, processesCollector, start, err)
	}
	if c.pods != nil {
		answer := <-pods
		err := c.pods.collect(ch, s, nvmlErr, answer)
		c.noteFailure(podsCollector, err)
		collectScrapeTook(ch, podsCollector, answer.took, err)
	}
}

// noteFailure logs when an opt-in collector starts or stops failing, or
// fails differently, rather than at every scrape.
func (c *Collector) noteFailure(collector string, err error) {
	if !c.changed(collector, err) {
		return
	}
	if err != nil {
		c.logger.Warn("a collector failed; the other collectors are still exported", "collector", collector, "err", err)
	} else {
		c.logger.Info("a collector works again", "collector", collector)
	}
}

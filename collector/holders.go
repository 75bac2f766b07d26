package collector

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vramfit/vramfit/collector/podresources"
	"github.com/vramfit/vramfit/estimator"
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

// askPods asks the kubelet in the background when the pod collector is
// on; nil when it is off.
func (c *Collector) askPods() <-chan podsAnswer {
	if c.pods == nil {
		return nil
	}
	return c.pods.ask()
}

// holders are who holds the devices, for the status page and the
// inventory API.
type holders struct {
	processes bool // the process collector is on
	podsAsked bool
	pods      map[string][]podresources.Holder // by UUID
	podsErr   error
}

// holdersOf waits for the kubelet's answer (nil: not asked).
func (c *Collector) holdersOf(pods <-chan podsAnswer) holders {
	h := holders{processes: c.processes != nil}
	if pods == nil {
		return h
	}
	answer := <-pods
	h.podsAsked, h.podsErr = true, answer.err
	h.pods = podresources.ByDevice(answer.allocations)
	return h
}

// addTo gives the inventory's devices their pods.
func (h holders) addTo(inv *nvml.Inventory) {
	if h.podsAsked {
		AddPods(inv, h.pods, h.podsErr)
	}
}

// AddPods gives the inventory's devices their pods (podresources.ByDevice),
// or says why the kubelet could not be asked.
func AddPods(inv *nvml.Inventory, pods map[string][]podresources.Holder, err error) {
	if err != nil {
		inv.PodsError = err.Error()
		return
	}
	byUUID := make(map[string][]nvml.InventoryPod, len(pods))
	for uuid, holders := range pods {
		for _, p := range holders {
			byUUID[uuid] = append(byUUID[uuid], nvml.InventoryPod{Namespace: p.Namespace, Pod: p.Pod, Container: p.Container})
		}
	}
	inv.SetPods(byUUID)
}

// addToPage lists each device's holders on the status page; devices are
// the page's GPU rows, in order.
func (h holders) addToPage(page *statusPage, devices []nvml.Device) {
	page.ShowHolders = h.processes || h.podsAsked
	if h.podsErr != nil {
		page.HoldersError = h.podsErr.Error()
	}
	for i, d := range devices {
		row := &page.GPUs[i]
		if h.processes && d.Err == nil {
			if d.ProcessesErr != nil {
				row.Holders = append(row.Holders, "processes cannot be listed: "+d.ProcessesErr.Error())
			}
			for _, p := range d.Processes {
				row.Holders = append(row.Holders, processLine(p))
			}
		}
		for _, p := range h.pods[d.UUID] {
			row.Holders = append(row.Holders, fmt.Sprintf("pod %s/%s, container %s", p.Namespace, p.Pod, p.Container))
		}
	}
}

// processLine is a process as the status page lists it:
// "python3 (pid 4242): 71.1 GiB".
func processLine(p nvml.Process) string {
	name := p.Name
	if name == "" {
		name = "a process not visible to the agent"
	}
	memory := "memory unknown"
	if p.MemoryKnown {
		memory = estimator.FormatGiB(toInt64(p.MemoryUsed))
	}
	return fmt.Sprintf("%s (pid %d): %s", name, p.PID, memory)
}

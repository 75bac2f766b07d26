package main

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/vramfit/vramfit/collector"
	"github.com/vramfit/vramfit/collector/podresources"
)

// holderFlags turn on the opt-in collectors of who holds the GPUs, off by
// default as node_exporter's optional collectors are.
type holderFlags struct {
	processes     bool
	processesTop  int
	pods          bool
	kubeletSocket string
}

// register adds the flags to serve; inventory, which lists every process,
// has no top.
func (h *holderFlags) register(clause *kingpin.CmdClause, what string, top bool) {
	clause.Flag("collector.processes", what+" the processes holding each GPU's memory. Their names need the host's PID namespace.").
		BoolVar(&h.processes)
	h.processesTop = 1
	if top {
		clause.Flag("collector.processes.top", "Processes exported per GPU or MIG instance, largest first; the rest are summed in pid=\"other\".").
			Default("10").IntVar(&h.processesTop)
	}
	clause.Flag("collector.pods", what+" the containers the kubelet allocated each GPU to.").
		BoolVar(&h.pods)
	clause.Flag("kubelet.pod-resources-socket", "The kubelet's pod-resources API socket, for --collector.pods.").
		Default(podresources.DefaultSocket).PlaceHolder("PATH").StringVar(&h.kubeletSocket)
}

func (h *holderFlags) check() error {
	switch {
	case h.processesTop < 1:
		return fmt.Errorf("--collector.processes.top %d: want 1 or more", h.processesTop)
	case h.pods && h.kubeletSocket == "":
		return fmt.Errorf("--kubelet.pod-resources-socket is empty: --collector.pods needs the kubelet's socket, such as %s", podresources.DefaultSocket)
	}
	return nil
}

// options are the collector's options for the flags; every call to the
// kubelet is bounded by the scrape timeout.
func (h *holderFlags) options(timeout time.Duration, logger *slog.Logger) []collector.Option {
	var opts []collector.Option
	if h.processes {
		opts = append(opts, collector.WithProcesses(h.processesTop))
		logger.Info("collector processes on", "top", h.processesTop)
	}
	if h.pods {
		opts = append(opts, collector.WithPods(podresources.New(h.kubeletSocket, timeout)))
		logger.Info("collector pods on", "socket", h.kubeletSocket)
	}
	return opts
}

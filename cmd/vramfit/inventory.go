package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/vramfit/vramfit/collector"
	"github.com/vramfit/vramfit/collector/podresources"
	"github.com/vramfit/vramfit/nvml"
)

type inventoryFlags struct {
	output, fake, libraryPath string
	holders                   holderFlags
	// timeout bounds how long inventory waits for a hung driver.
	timeout time.Duration
}

func newInventoryCommand(app *kingpin.Application) command {
	clause := app.Command("inventory", "List the local GPUs (or a fake fleet): identity, memory and MIG instances.")
	f := &inventoryFlags{}
	clause.Flag("output", "Output format: table or json.").Default("table").EnumVar(&f.output, "table", "json")
	clause.Flag("nvml.fake", "Read a fake fleet instead of the GPUs: a built-in fleet ("+strings.Join(nvml.Fleets(), ", ")+") or a fleet file.").
		PlaceHolder("NAME|FILE").StringVar(&f.fake)
	clause.Flag("nvml.library-path", "Load NVML from this file instead of the system's libnvidia-ml.so.1.").PlaceHolder("FILE").StringVar(&f.libraryPath)
	clause.Flag("nvml.timeout", "How long to wait for the driver's answers before giving up.").
		Default("30s").DurationVar(&f.timeout)
	f.holders.register(clause, "List", false)
	return command{clause: clause, run: f.run}
}

func (f *inventoryFlags) run(e env) int {
	if f.timeout <= 0 {
		fmt.Fprintf(e.stderr, "%s inventory: --nvml.timeout=%s: want a positive duration such as 30s\n", programName, f.timeout)
		return 2
	}
	if err := f.holders.check(); err != nil {
		fmt.Fprintf(e.stderr, "%s inventory: %v\n", programName, err)
		return 2
	}
	// The command prints its listing or one line of error, nothing else:
	// the backend's log lines (a re-initialisation) are not for this output.
	backend, err := nvml.Open(nvml.Config{Fake: f.fake, LibraryPath: f.libraryPath, Processes: f.holders.processes}, slog.New(slog.DiscardHandler))
	if err != nil {
		fmt.Fprintf(e.stderr, "%s inventory: %v\n", programName, err)
		return 1
	}
	defer func() {
		if err := backend.Close(); err != nil {
			e.logger.Warn("closing NVML", "err", err)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), f.timeout)
	defer cancel()
	snap, err := backend.Snapshot(ctx)
	switch {
	case errors.Is(err, nvml.ErrUnavailable):
		reason := strings.TrimPrefix(err.Error(), nvml.ErrUnavailable.Error()+": ")
		hint := ""
		if f.fake == "" {
			hint = "; try --nvml.fake=dgx-h100"
		}
		fmt.Fprintf(e.stderr, "%s inventory: NVML could not be loaded: %s%s\n", programName, reason, hint)
		return 1
	case errors.Is(err, context.DeadlineExceeded):
		fmt.Fprintf(e.stderr, "%s inventory: the driver did not answer within %s (--nvml.timeout)\n", programName, f.timeout)
		return 1
	case err != nil:
		fmt.Fprintf(e.stderr, "%s inventory: %v\n", programName, err)
		return 1
	}
	inv := nvml.NewInventory(snap)
	if f.holders.pods {
		// A kubelet that cannot be asked is said in the listing, which
		// still lists the GPUs.
		allocations, err := podresources.New(f.holders.kubeletSocket, f.timeout).List(ctx)
		collector.AddPods(&inv, podresources.ByDevice(allocations), err)
	}
	if f.output == "json" {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(inv); err != nil {
			fmt.Fprintf(e.stderr, "%s inventory: %v\n", programName, err)
			return 1
		}
		return 0
	}
	writeInventoryTable(e.stdout, inv)
	return 0
}

// writeInventoryTable prints memory in MiB, as nvidia-smi does, so that the
// two read side by side.
func writeInventoryTable(w io.Writer, inv nvml.Inventory) {
	fmt.Fprintf(w, "Driver %s, CUDA %s, NVML %s\n\n", or(inv.DriverVersion, "?"), or(inv.CUDADriverVersion, "?"), or(inv.NVMLVersion, "?"))
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "GPU\tNAME\tUUID\tPCI BUS ID\tMIG\tTOTAL MiB\tUSED MiB\tFREE MiB\tRESERVED MiB")
	row := func(gpu string, d nvml.InventoryDevice, name, mig string) {
		if d.Error != nil {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\tdown: %s\n", gpu, name, d.UUID, d.PCIBusID, mig, *d.Error)
			return
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", gpu, name, d.UUID, d.PCIBusID, mig,
			mebibytes(d.MemoryTotalBytes), mebibytes(d.MemoryUsedBytes), mebibytes(d.MemoryFreeBytes), mebibytes(d.MemoryReservedBytes))
	}
	for _, g := range inv.Devices {
		row(fmt.Sprint(g.Index), g.InventoryDevice, g.Name, or(g.MIGMode, "-"))
		for i, m := range g.MIGInstances {
			row(fmt.Sprintf("%d/%d", g.Index, i), m.InventoryDevice, "  MIG "+m.MIGProfile, "")
		}
	}
	tw.Flush()
	writeHolders(w, inv)
}

// writeHolders lists who holds each device, where processes or pods were
// asked for.
func writeHolders(w io.Writer, inv nvml.Inventory) {
	var rows [][3]string // device, holder, MiB
	add := func(device string, d nvml.InventoryDevice) {
		for _, p := range d.Processes {
			rows = append(rows, [3]string{device, fmt.Sprintf("pid %d %s", p.PID, or(p.Name, "(not visible here)")), mebibytes(p.MemoryUsedBytes)})
		}
		for _, p := range d.Pods {
			rows = append(rows, [3]string{device, fmt.Sprintf("pod %s/%s container %s", p.Namespace, p.Pod, p.Container), "-"})
		}
	}
	for _, g := range inv.Devices {
		add(fmt.Sprint(g.Index), g.InventoryDevice)
		for i, m := range g.MIGInstances {
			add(fmt.Sprintf("%d/%d", g.Index, i), m.InventoryDevice)
		}
	}
	if inv.PodsError != "" {
		fmt.Fprintf(w, "\nPods cannot be listed: %s\n", inv.PodsError)
	}
	if len(rows) == 0 {
		return
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "GPU\tHELD BY\tUSED MiB")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r[0], r[1], r[2])
	}
	tw.Flush()
}

// mebibytes prints whole MiB, rounded down as nvidia-smi does, or "-".
func mebibytes(b *uint64) string {
	if b == nil {
		return "-"
	}
	return fmt.Sprint(*b >> 20)
}

func or(s, fallback string) string {
	if s != "" {
		return s
	}
	return fallback
}

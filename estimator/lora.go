package estimator

import (
	"slices"
	"strings"

	"github.com/vramfit/vramfit/estimator/model"
)

// adapterParameters counts the LoRA parameters of the whole model: each
// adapted d_in × d_out matrix gains r·(d_in + d_out) (Hu et al., 2021), in
// every layer. Modules default to every linear module of a layer.
func adapterParameters(l *LoRA, m model.Model) (float64, *fieldError) {
	if !m.KnownArchitecture || len(m.Decoder) == 0 {
		fe := fieldErrorf("model", "lora needs the model's architecture to size the adapters (give a preset, architecture or hf_config, not a bare parameter count)")
		return 0, &fe
	}
	rank := DefaultLoRARank
	var modules []string
	if l != nil {
		rank = orDefaultInt(l.Rank, DefaultLoRARank)
		modules = l.Modules
	}
	// A module adapts every layer that has it (a dense layer of an MoE
	// model has no experts); a name no layer has is an error.
	var names []string
	for _, layer := range m.Decoder {
		for _, lin := range layer.Linears {
			if !slices.Contains(names, lin.Name) {
				names = append(names, lin.Name)
			}
		}
	}
	if len(modules) == 0 {
		modules = names
	}
	for _, name := range modules {
		if !slices.Contains(names, name) {
			sorted := slices.Sorted(slices.Values(names))
			fe := fieldErrorf("lora.modules", "the model has no linear module %q; valid: %s", name, strings.Join(sorted, ", "))
			return 0, &fe
		}
	}
	var total float64
	for _, layer := range m.Decoder {
		for _, lin := range layer.Linears {
			if slices.Contains(modules, lin.Name) {
				total += float64(rank) * (float64(lin.In) + float64(lin.Out)) * float64(max(lin.Count, 1))
			}
		}
	}
	return total, nil
}

// adapterStates is the trained part of lora and qlora on one GPU: the
// adapters, their gradients and optimizer states, sharded like full
// training's model states.
func (e *Estimation) adapterStates(l Layout) states {
	n := e.in.adapterParams / float64(l.TensorParallel*l.PipelineParallel)
	return states{
		weights:   e.in.adapter.bytesFor(n) / zeroShard(l, 3),
		gradients: e.in.grads.bytesFor(n) / zeroShard(l, 2),
		optimizer: n * e.optimizerBytesPerParam(e.in.adapter) / zeroShard(l, 1),
	}
}

package estimator

import (
	"sort"
	"strings"
)

// adapterParameters counts the LoRA parameters of the whole model: each
// adapted d_in × d_out matrix gains r·(d_in + d_out) (Hu et al., 2021), in
// every layer. Modules default to every linear module of a layer.
func adapterParameters(l *LoRA, m Model) (float64, *fieldError) {
	if !m.KnownArchitecture || len(m.Linears) == 0 {
		fe := fieldErrorf("model", "lora needs the model's architecture to size the adapters (give a preset, architecture or hf_config, not a bare parameter count)")
		return 0, &fe
	}
	rank := DefaultLoRARank
	var modules []string
	if l != nil {
		rank = orDefaultInt(l.Rank, DefaultLoRARank)
		modules = l.Modules
	}
	byName := map[string]Linear{}
	for _, lin := range m.Linears {
		byName[lin.Name] = lin
	}
	if len(modules) == 0 {
		for _, lin := range m.Linears {
			modules = append(modules, lin.Name)
		}
	}
	var perLayer float64
	for _, name := range modules {
		lin, ok := byName[name]
		if !ok {
			names := make([]string, 0, len(byName))
			for n := range byName {
				names = append(names, n)
			}
			sort.Strings(names)
			fe := fieldErrorf("lora.modules", "the model has no linear module %q; valid: %s", name, strings.Join(names, ", "))
			return 0, &fe
		}
		perLayer += float64(rank) * (float64(lin.In) + float64(lin.Out)) * float64(max(lin.Count, 1))
	}
	return perLayer * float64(m.Layers), nil
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

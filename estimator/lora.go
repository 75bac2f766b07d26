package estimator

import (
	"slices"
	"strings"

	"github.com/vramfit/vramfit/estimator/model"
)

// adapters are a target's LoRA adapters over the whole model.
type adapters struct {
	// params counts their parameters; largest is the elements of the
	// largest adapter matrix, r·max(d_in, d_out); baseShare is the share of
	// the decoder layers' linear weights that carry an adapter.
	params, largest, baseShare float64
}

// adapterParameters counts the LoRA parameters of the whole model: each
// adapted d_in × d_out matrix gains r·(d_in + d_out) (Hu et al., 2021), in
// every layer. Modules default to every linear module of a layer.
func adapterParameters(l *LoRA, m model.Model) (adapters, *fieldError) {
	if !m.KnownArchitecture || len(m.Decoder) == 0 {
		fe := fieldErrorf("model", "lora needs the model's architecture to size the adapters (give a preset, architecture or hf_config, not a bare parameter count)")
		return adapters{}, &fe
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
			return adapters{}, &fe
		}
	}
	var a adapters
	var base, adapted float64
	for _, layer := range m.Decoder {
		for _, lin := range layer.Linears {
			weights := float64(lin.In) * float64(lin.Out) * float64(max(lin.Count, 1))
			base += weights
			if slices.Contains(modules, lin.Name) {
				adapted += weights
				a.params += float64(rank) * (float64(lin.In) + float64(lin.Out)) * float64(max(lin.Count, 1))
				a.largest = max(a.largest, float64(rank)*float64(max(lin.In, lin.Out)))
			}
		}
	}
	if base > 0 {
		a.baseShare = adapted / base
	}
	return a, nil
}

// adapterStates is the trained part of lora and qlora on one GPU: the
// adapters, their gradients and optimizer states, sharded like full
// training's model states.
func (e *Estimation) adapterStates(l Layout) states {
	n := e.in.adapters.params / float64(l.TensorParallel*l.PipelineParallel)
	return e.trainedStates(l, n, e.in.adapters.largest/float64(l.TensorParallel), e.in.adapter)
}

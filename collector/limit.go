package collector

import "net/http"

// Gate bounds the requests that do work (a scrape, the status page, the
// JSON API) with one count shared by all of them: a flood of one endpoint
// takes the slots of every other, not more memory. A request over the
// bound gets 503 at once.
type Gate struct{ slots chan struct{} }

// NewGate admits max requests at a time; 0 admits any number.
func NewGate(max int) *Gate {
	if max == 0 {
		return &Gate{}
	}
	return &Gate{slots: make(chan struct{}, max)}
}

// Wrap admits h's requests through the gate.
func (g *Gate) Wrap(h http.Handler) http.Handler {
	if g.slots == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case g.slots <- struct{}{}:
			defer func() { <-g.slots }()
			h.ServeHTTP(w, r)
		default:
			http.Error(w, "Too many requests in flight; try again later (see --web.max-requests).", http.StatusServiceUnavailable)
		}
	})
}

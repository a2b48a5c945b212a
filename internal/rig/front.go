package rig

import (
	"net/http"
	"net/url"

	"ecs-deploy/internal/faults"
)

// front returns the handler standing before upstream: every call is
// logged in calls, then in's faults are injected, then rw (when set)
// taps or rewrites what passes.
func front(upstream string, calls *Calls, in *faults.Injector, rw faults.Rewriter) (http.Handler, error) {
	u, err := url.Parse(upstream)
	if err != nil {
		return nil, err
	}
	var h http.Handler
	if rw != nil {
		h = faults.NewRewritingProxy(u, in, rw)
	} else {
		h = faults.NewProxy(u, in)
	}
	return calls.record(h), nil
}

package faults

import (
	"net/http"
	"net/http/httputil"
	"net/url"
)

// NewProxy returns a reverse proxy to target that injects in's failures.
func NewProxy(target *url.URL, in *Injector) http.Handler {
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			// Keep the Host the client signed, so SigV4-checking services
			// (dynalite checks the header is present) see the same request.
			pr.Out.Host = pr.In.Host
		},
	}
	return in.Middleware(rp)
}

package faults

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"

	"ecs-deploy/internal/awsproto"
)

// Rewriter changes what a proxied service answers, for tests that need
// what a stand-in does not give: goaws reports every SenderId as its own
// account and every SentTimestamp as the time of receipt, and takes
// messages AWS refuses.
type Rewriter interface {
	// Request may answer a call itself instead of the target: ok true
	// sends status and answer, and the target never sees the call.
	Request(op string, r *http.Request, body []byte) (status int, answer []byte, ok bool)
	// Answer returns what to send for a call the target answered.
	Answer(op string, r *http.Request, body []byte, status int, answer []byte) []byte
}

// NewRewritingProxy is NewProxy with rw between the injected failures and
// the target.
func NewRewritingProxy(target *url.URL, in *Injector, rw Rewriter) http.Handler {
	rp := NewProxy(target, &Injector{})
	return in.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		op, _, err := awsproto.Identify(r)
		if err != nil {
			rp.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		if status, answer, ok := rw.Request(op.Name, r, body); ok {
			w.Header().Set("Content-Type", "application/x-amz-json-1.0")
			w.WriteHeader(status)
			_, _ = w.Write(answer)
			return
		}
		rec := httptest.NewRecorder()
		rp.ServeHTTP(rec, r)
		answer := rw.Answer(op.Name, r, body, rec.Code, rec.Body.Bytes())
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(answer)))
		w.WriteHeader(rec.Code)
		_, _ = w.Write(answer)
	}))
}

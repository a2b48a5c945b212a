package rig

import (
	"net/http"
	"regexp"
	"sync"
	"time"

	"ecs-deploy/internal/awsproto"
)

// Call is one call a front passed on, or answered with an injected fault.
type Call struct {
	// At is when the call arrived at the front.
	At time.Time
	// Service is the SigV4 signing name: ecs, elasticloadbalancing,
	// monitoring, sqs, sns, dynamodb, sts.
	Service string
	// Operation is the API operation.
	Operation string
	// AccessKey is the access key ID that signed the call: who made it.
	AccessKey string
	// Status is the HTTP status answered; 0 when the connection was
	// dropped.
	Status int
	// Took is how long the answer took.
	Took time.Duration
}

// Calls is the log of the calls every front received, in arrival order.
type Calls struct {
	mu    sync.Mutex
	calls []Call
}

// All returns the calls so far.
func (c *Calls) All() []Call {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Call(nil), c.calls...)
}

// Count returns how many calls match keep.
func (c *Calls) Count(keep func(Call) bool) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, call := range c.calls {
		if keep(call) {
			n++
		}
	}
	return n
}

// ByService counts the calls keep selects, by service.
func (c *Calls) ByService(keep func(Call) bool) map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]int{}
	for _, call := range c.calls {
		if keep(call) {
			out[call.Service]++
		}
	}
	return out
}

// Between selects calls signed with key that arrived from since to until.
func Between(key string, since, until time.Time) func(Call) bool {
	return func(c Call) bool {
		return c.AccessKey == key && !c.At.Before(since) && !c.At.After(until)
	}
}

var scopePattern = regexp.MustCompile(`Credential=([^/,\s]+)/[0-9]{8}/[^/]+/([^/]+)/aws4_request`)

// signedBy returns the access key ID and the service a SigV4 request is
// signed for.
func signedBy(r *http.Request) (key, service string) {
	if m := scopePattern.FindStringSubmatch(r.Header.Get("Authorization")); m != nil {
		return m[1], m[2]
	}
	return "", ""
}

// record wraps next so every call it serves is logged in c.
func (c *Calls) record(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		at := time.Now()
		r = awsproto.Identified(r)
		op, _, _ := awsproto.Identify(r)
		key, service := signedBy(r)
		rec := &statusWriter{ResponseWriter: w}
		// Deferred: a dropped connection aborts the handler with a panic.
		defer func() {
			c.mu.Lock()
			c.calls = append(c.calls, Call{At: at, Service: service, Operation: op.Name, AccessKey: key, Status: rec.status, Took: time.Since(at)})
			c.mu.Unlock()
		}()
		next.ServeHTTP(rec, r)
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection, so the fault
// injector can still drop it.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

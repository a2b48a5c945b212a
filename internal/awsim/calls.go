package awsim

import (
	"net/http"
	"strings"
	"time"

	"ecs-deploy/internal/awsproto"
)

// Call is one API call the emulator received.
type Call struct {
	// Time is the real time the call arrived.
	Time time.Time `json:"time"`
	// Operation is the API operation, or "" for a request naming none.
	Operation string `json:"operation"`
	// Status is the HTTP status of the answer, 0 for a dropped connection.
	Status int `json:"status"`
}

// Mutating says whether the operation can change state: everything but
// Describe*, List* and Get*.
func (c Call) Mutating() bool { return IsMutating(c.Operation) }

// IsMutating says whether an operation can change state.
func IsMutating(op string) bool {
	for _, p := range []string{"Describe", "List", "Get"} {
		if strings.HasPrefix(op, p) {
			return false
		}
	}
	return op != ""
}

// Calls returns the calls received since the last ResetCalls, oldest first,
// for every account of the emulated cloud: they all arrive at one address.
func (s *Server) Calls() []Call {
	s = s.cloud.first
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// CallCounts returns the number of calls per operation.
func (s *Server) CallCounts() map[string]int {
	s = s.cloud.first
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for _, c := range s.calls {
		out[c.Operation]++
	}
	return out
}

// ResetCalls empties the call log.
func (s *Server) ResetCalls() {
	s = s.cloud.first
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = nil
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection, so the fault
// injector can still drop it.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// logCalls records every API call (controls excluded) with its outcome.
func (s *Server) logCalls(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, controlPath) {
			next.ServeHTTP(w, r)
			return
		}
		r = awsproto.Identified(r)
		op, _, _ := awsproto.Identify(r)
		rec := &statusRecorder{ResponseWriter: w}
		start := s.cfg.Now()
		defer func() {
			s.mu.Lock()
			s.calls = append(s.calls, Call{Time: start, Operation: op.Name, Status: rec.status})
			s.mu.Unlock()
		}()
		next.ServeHTTP(rec, r)
	})
}

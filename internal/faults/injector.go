package faults

import (
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"ecs-deploy/internal/awsproto"
)

// Kind is what an injector did to one call.
type Kind string

const (
	Throttle   Kind = "throttle"
	Error      Kind = "error"
	Drop       Kind = "drop"
	LoseAnswer Kind = "lose_answer"
)

// Injector holds the active rules. The zero value injects nothing; it is safe
// for concurrent use.
type Injector struct {
	mu       sync.Mutex
	rules    []Rule
	rng      *rand.Rand
	injected map[Kind]int
}

// NewInjector returns an injector whose random draws follow seed, so a test
// run can be repeated.
func NewInjector(seed uint64) *Injector {
	return &Injector{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// Add activates r after checking it.
func (in *Injector) Add(r Rule) error {
	if err := r.Validate(); err != nil {
		return err
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	in.rules = append(in.rules, r)
	return nil
}

// Clear removes every rule.
func (in *Injector) Clear() {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.rules = nil
}

// Rules returns a copy of the active rules.
func (in *Injector) Rules() []Rule {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([]Rule(nil), in.rules...)
}

// Injected returns how many calls got each kind of failure.
func (in *Injector) Injected() map[Kind]int {
	in.mu.Lock()
	defer in.mu.Unlock()
	out := make(map[Kind]int, len(in.injected))
	for k, v := range in.injected {
		out[k] = v
	}
	return out
}

// decide returns the latency to add and the failure, if any, for one call.
func (in *Injector) decide(op string) (time.Duration, Kind) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.rng == nil {
		in.rng = rand.New(rand.NewPCG(1, 2))
	}
	var latency time.Duration
	var kind Kind
	for i := 0; i < len(in.rules); i++ {
		r := &in.rules[i]
		if !r.matches(op) {
			continue
		}
		latency += r.Latency
		if kind != "" {
			continue
		}
		switch x := in.rng.Float64(); {
		case x < r.ThrottleRate:
			kind = Throttle
		case x < r.ThrottleRate+r.ErrorRate:
			kind = Error
		case x < r.ThrottleRate+r.ErrorRate+r.DropRate:
			kind = Drop
		case x < r.ThrottleRate+r.ErrorRate+r.DropRate+r.LoseAnswerRate:
			kind = LoseAnswer
		default:
			continue
		}
		if r.Times > 0 {
			r.Times--
			if r.Times == 0 {
				in.rules = append(in.rules[:i], in.rules[i+1:]...)
				i--
			}
		}
	}
	if kind != "" {
		if in.injected == nil {
			in.injected = map[Kind]int{}
		}
		in.injected[kind]++
	}
	return latency, kind
}

// Middleware applies the rules to every call before next sees it.
func (in *Injector) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r = awsproto.Identified(r)
		op, _, err := awsproto.Identify(r)
		if err != nil {
			// Let the service itself answer the malformed request.
			next.ServeHTTP(w, r)
			return
		}
		latency, kind := in.decide(op.Name)
		if latency > 0 {
			t := time.NewTimer(latency)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return
			}
		}
		switch kind {
		case Throttle:
			code := "ThrottlingException"
			if op.Protocol == awsproto.ProtocolQuery {
				code = "Throttling"
			}
			awsproto.WriteError(w, op.Protocol, "", &awsproto.Error{Code: code, Message: "Rate exceeded", Status: http.StatusBadRequest})
		case Error:
			awsproto.WriteError(w, op.Protocol, "", &awsproto.Error{Code: "InternalFailure", Message: "injected internal failure", Status: http.StatusInternalServerError})
		case Drop:
			drop(w)
		case LoseAnswer:
			next.ServeHTTP(discard{header: http.Header{}}, r)
			drop(w)
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// discard is a ResponseWriter that throws the answer away.
type discard struct{ header http.Header }

func (d discard) Header() http.Header         { return d.header }
func (d discard) Write(b []byte) (int, error) { return len(b), nil }
func (d discard) WriteHeader(int)             {}

// drop closes the client's connection without answering.
func drop(w http.ResponseWriter) {
	if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
		_ = conn.Close()
		return
	}
	// Without a hijackable connection, abort the handler: net/http closes
	// the connection without a response.
	panic(http.ErrAbortHandler)
}

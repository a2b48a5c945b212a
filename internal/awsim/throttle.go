package awsim

import (
	"fmt"
	"strings"
	"time"

	"ecs-deploy/internal/awsproto"
)

// Throttling makes ECS throttle requests per account and region with token
// buckets, as AWS does ("Request throttling for the Amazon ECS API"): each
// kind of action has a bucket of Burst tokens refilled at Rate a second of
// simulated time; a request finding its bucket empty gets
// ThrottlingException "Rate exceeded". Off by default.
type Throttling struct {
	// Read is the bucket of Describe and List actions. Default burst 50,
	// 20 a second.
	Read Bucket `json:"read"`
	// Register is RegisterTaskDefinition's. Default burst 20, 1 a second.
	Register Bucket `json:"register"`
	// Write is every other action's. Default burst 20, 5 a second.
	Write Bucket `json:"write"`
}

// Bucket is a token bucket's size and refill rate.
type Bucket struct {
	Burst float64 `json:"burst"`
	Rate  float64 `json:"rate"`
}

func (t *Throttling) setDefaults() {
	for _, b := range []struct {
		b           *Bucket
		burst, rate float64
	}{{&t.Read, 50, 20}, {&t.Register, 20, 1}, {&t.Write, 20, 5}} {
		if b.b.Burst == 0 {
			b.b.Burst = b.burst
		}
		if b.b.Rate == 0 {
			b.b.Rate = b.rate
		}
	}
}

// bucket is a token bucket on the simulated clock.
type bucket struct {
	Bucket
	tokens float64
	at     time.Time
}

func (b *bucket) take(now time.Time) bool {
	if b.at.IsZero() {
		b.tokens, b.at = b.Burst, now
	}
	b.tokens = min(b.Burst, b.tokens+now.Sub(b.at).Seconds()*b.Rate)
	b.at = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// throttle holds the buckets of one account's emulator (its region).
type throttle struct {
	read, register, write bucket
	throttled             map[string]int
}

// SetThrottling turns ECS request throttling on for this account's
// emulator, with the buckets full; a nil t turns it off.
func (s *Server) SetThrottling(t *Throttling) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t == nil {
		s.throttle = nil
		return
	}
	c := *t
	c.setDefaults()
	s.throttle = &throttle{read: bucket{Bucket: c.Read}, register: bucket{Bucket: c.Register}, write: bucket{Bucket: c.Write}, throttled: map[string]int{}}
}

// Throttled returns how many ECS requests of each action the throttling
// refused.
func (s *Server) Throttled() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	if s.throttle != nil {
		for k, v := range s.throttle.throttled {
			out[k] = v
		}
	}
	return out
}

// admit takes a token for op, or says why not. Callers hold s.mu.
func (s *Server) admit(op string) error {
	t := s.throttle
	if t == nil {
		return nil
	}
	b := &t.write
	switch {
	case op == "RegisterTaskDefinition":
		b = &t.register
	case strings.HasPrefix(op, "Describe") || strings.HasPrefix(op, "List"):
		b = &t.read
	}
	if b.take(s.now) {
		return nil
	}
	t.throttled[op]++
	return awsproto.Errorf("ThrottlingException", "Rate exceeded")
}

func (t Throttling) String() string {
	return fmt.Sprintf("read %v/%v, register %v/%v, write %v/%v", t.Read.Burst, t.Read.Rate, t.Register.Burst, t.Register.Rate, t.Write.Burst, t.Write.Rate)
}

package awsim

import (
	"container/heap"
	"time"
)

// event is a state change due at a simulated time.
type event struct {
	at  time.Time
	seq uint64
	fn  func()
}

type eventQueue []*event

func (q eventQueue) Len() int { return len(q) }
func (q eventQueue) Less(i, j int) bool {
	if q[i].at.Equal(q[j].at) {
		return q[i].seq < q[j].seq
	}
	return q[i].at.Before(q[j].at)
}
func (q eventQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *eventQueue) Push(x any)   { *q = append(*q, x.(*event)) }
func (q *eventQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}

// after schedules fn at d past the current simulated time. Callers hold s.mu.
func (s *Server) after(d time.Duration, fn func()) {
	s.seq++
	heap.Push(&s.events, &event{at: s.now.Add(d), seq: s.seq, fn: fn})
}

// advance applies, in time order, every event due by the clock's present,
// refreshing derived state after each so downtime is seen at the instant it
// begins, and noting each event's ECS changes for eventual consistency.
// What changed since the last call is taken as visible. Callers hold s.mu.
func (s *Server) advance() {
	s.adoptECSState()
	target := s.clock.Now()
	for len(s.events) > 0 && !s.events[0].at.After(target) {
		e := heap.Pop(&s.events).(*event)
		if e.at.After(s.now) {
			s.now = e.at
		}
		e.fn()
		s.refresh()
		s.noteECSChanges()
	}
	if target.After(s.now) {
		s.now = target
	}
}

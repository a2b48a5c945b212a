package rig

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"ecs-deploy/pipeline"
)

// LockState is a deploy lock's item as it was right after a write that
// DynamoDB took.
type LockState struct {
	// At is when it was read back, right after the write's answer.
	At time.Time
	// Key is the lock's key, <app>-<env>.
	Key string
	// Gone says the item no longer exists.
	Gone bool
	// Owner and RecordVersion are the holder's name and the item's
	// version: every heartbeat writes a new one.
	Owner, RecordVersion string
	// Released says nobody holds the lock.
	Released bool
	// Status is the deploy status the lock carries.
	Status pipeline.Status
}

// LockHistory records, for every write to the lock table that DynamoDB
// took, the item it left: the history of every lock's holders.
type LockHistory struct {
	table  string
	locker *pipeline.Locker

	mu     sync.Mutex
	states []LockState
}

// All returns the states recorded so far, in the order they were read.
func (h *LockHistory) All() []LockState {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]LockState(nil), h.states...)
}

// Request lets every call through (faults.Rewriter).
func (h *LockHistory) Request(string, *http.Request, []byte) (int, []byte, bool) {
	return 0, nil, false
}

// Answer reads back the item a successful write to the lock table left;
// the writer is still waiting for its answer, so nobody else of its own
// has changed it since.
func (h *LockHistory) Answer(op string, r *http.Request, body []byte, status int, answer []byte) []byte {
	if status != http.StatusOK {
		return answer
	}
	switch op {
	case "PutItem", "UpdateItem", "DeleteItem":
	default:
		return answer
	}
	var in struct {
		TableName string
		Key, Item map[string]struct{ S string }
	}
	if json.Unmarshal(body, &in) != nil || in.TableName != h.table {
		return answer
	}
	key := in.Key["key"].S
	if key == "" {
		key = in.Item["key"].S
	}
	if key == "" {
		return answer
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := h.Peek(ctx, key)
	if err != nil {
		return answer
	}
	h.mu.Lock()
	h.states = append(h.states, st)
	h.mu.Unlock()
	return answer
}

// Peek reads a lock's item now.
func (h *LockHistory) Peek(ctx context.Context, key string) (LockState, error) {
	it, ok, err := h.locker.Peek(ctx, key)
	if err != nil {
		return LockState{}, err
	}
	st := LockState{At: time.Now(), Key: key, Gone: !ok, Owner: it.Owner, RecordVersion: it.RecordVersion, Released: it.Released}
	_ = json.Unmarshal(it.Data, &st.Status)
	return st, nil
}

package rig

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"ecs-deploy/pipeline"
)

// LockState is a deploy lock's item as it was right after a write that
// DynamoDB took.
type LockState struct {
	// At is when it was read back, right after the write's answer: the
	// item was as read, and its record version written, by then.
	At time.Time
	// Written, when set, is when the tapped write that set RecordVersion
	// was sent on to DynamoDB: the version was written no earlier. It is
	// zero when the write set no version, or another write's version was
	// read back.
	Written time.Time
	// Key is the lock's key, <app>-<env>.
	Key string
	// Gone says the item no longer exists.
	Gone bool
	// Holding is the item's full owner name, <daemon>/<run ID>: each
	// holding of a lock has its own, and a lock ReleaseDead released is
	// released-dead/<random>. Owner is its daemon part.
	Holding, Owner string
	// RecordVersion is the item's version: every heartbeat writes a new one.
	RecordVersion string
	// Released says nobody holds the lock.
	Released bool
	// Status is the deploy status the lock carries.
	Status pipeline.Status
}

// LockHistory records, for every write to the lock table that DynamoDB
// took, the item it left: the history of every lock's holders.
type LockHistory struct {
	table string
	db    *dynamodb.Client // straight to DynamoDB, past the faults

	sent sync.Map // *http.Request of a write → when it was sent on

	mu     sync.Mutex
	states []LockState
}

// All returns the states recorded so far, in the order they were read.
func (h *LockHistory) All() []LockState {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]LockState(nil), h.states...)
}

func isWrite(op string) bool {
	return op == "PutItem" || op == "UpdateItem" || op == "DeleteItem"
}

// Request lets every call through (faults.Rewriter), noting when each
// write is sent on to DynamoDB.
func (h *LockHistory) Request(op string, r *http.Request, _ []byte) (int, []byte, bool) {
	if isWrite(op) {
		h.sent.Store(r, time.Now())
	}
	return 0, nil, false
}

// Answer reads back the item a successful write to the lock table left;
// the writer is still waiting for its answer, so nobody else of its own
// has changed it since.
func (h *LockHistory) Answer(op string, r *http.Request, body []byte, status int, answer []byte) []byte {
	v, _ := h.sent.LoadAndDelete(r)
	sent, _ := v.(time.Time)
	if status != http.StatusOK || !isWrite(op) {
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
	// Record versions are random, and a write that landed replaced any
	// version its condition named: a version read back that the write
	// names is the one it set.
	if st.RecordVersion != "" && strings.Contains(string(body), `"`+st.RecordVersion+`"`) {
		st.Written = sent
	}
	h.mu.Lock()
	h.states = append(h.states, st)
	h.mu.Unlock()
	return answer
}

// Peek reads a lock's item now, with a consistent read. It reads the
// item itself, not through pipeline.Locker.Peek, to keep the owner's run
// ID.
func (h *LockHistory) Peek(ctx context.Context, key string) (LockState, error) {
	out, err := h.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(h.table), ConsistentRead: aws.Bool(true),
		Key: map[string]ddbtypes.AttributeValue{"key": &ddbtypes.AttributeValueMemberS{Value: key}}})
	if err != nil {
		return LockState{}, fmt.Errorf("read deploy lock %s: %w", key, err)
	}
	st := LockState{At: time.Now(), Key: key, Gone: out.Item == nil}
	str := func(name string) string {
		v, _ := out.Item[name].(*ddbtypes.AttributeValueMemberS)
		if v == nil {
			return ""
		}
		return v.Value
	}
	st.Holding, st.RecordVersion = str("ownerName"), str("recordVersionNumber")
	st.Owner = st.Holding
	if i := strings.LastIndex(st.Owner, "/"); i >= 0 {
		st.Owner = st.Owner[:i]
	}
	_, st.Released = out.Item["isReleased"]
	if d, ok := out.Item["data"].(*ddbtypes.AttributeValueMemberB); ok {
		_ = json.Unmarshal(d.Value, &st.Status)
	}
	return st, nil
}

package pipeline

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"cirello.io/dynamolock/v2"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// DynamoDBAPI is what the lock needs of DynamoDB.
type DynamoDBAPI = dynamolock.DynamoDBClient

var _ DynamoDBAPI = (*dynamodb.Client)(nil)

// LockConfig configures the deploy lock.
type LockConfig struct {
	// Table is the DynamoDB table of locks. Default "DeployLock".
	Table string
	// Owner names this process in the lock, for people reading who holds
	// it. It must be unique among the daemons sharing the table. Default: a
	// random name.
	Owner string
	// Lease is how long a lock whose heartbeats stopped stays held. Default 10s.
	Lease time.Duration
	// Heartbeat is how often a held lock is renewed, and how often its
	// holder looks for a request to stop. Default 1s.
	Heartbeat time.Duration
}

func (c *LockConfig) setDefaults() {
	if c.Table == "" {
		c.Table = "DeployLock"
	}
	if c.Owner == "" {
		c.Owner = "ecs-deploy-" + randomID()
	}
	if c.Lease == 0 {
		c.Lease = 10 * time.Second
	}
	if c.Heartbeat == 0 {
		c.Heartbeat = time.Second
	}
}

// Validate reports every field out of range.
func (c LockConfig) Validate() error {
	var errs []error
	if c.Heartbeat <= 0 || c.Lease < 3*c.Heartbeat {
		errs = append(errs, fmt.Errorf("pipeline.LockConfig.Lease (%v) must be at least three heartbeats (%v)", c.Lease, c.Heartbeat))
	}
	return errors.Join(errs...)
}

func randomID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// ErrLockHeld is returned when another live deploy holds the lock.
var ErrLockHeld = errors.New("deploy lock held")

// LockHeldError says who holds a lock and what their deploy is doing.
type LockHeldError struct {
	Key    string
	Holder Status
}

func (e *LockHeldError) Error() string {
	h := e.Holder
	if h.DeployID == "" {
		return fmt.Sprintf("deploy lock %s is held by another deploy", e.Key)
	}
	return fmt.Sprintf("deploy lock %s is held by deploy %s (%s, step %d %s, owner %s, requested by %s)",
		e.Key, h.DeployID, h.Mode, h.Step, stepName(h.Step), h.Owner, h.RequestedBy)
}

func (e *LockHeldError) Is(target error) bool { return target == ErrLockHeld }

// ErrLockLost is returned when a deploy's lock stopped being its own: a
// heartbeat failed for longer than the lease, or another owner took it.
var ErrLockLost = errors.New("deploy lock lost")

// ErrLockerClosed is returned by Acquire once Close has begun.
var ErrLockerClosed = errors.New("locker closed")

// ownHolding makes heartbeats and status writes conditional on the lock
// item's owner only, not on the record version this process last wrote:
// a write that landed but whose answer was lost changed the version
// without this process learning it. That is safe because every holding of
// a lock has an owner name of its own (Locker.Acquire).
var ownHolding = dynamolock.UnsafeMatchOwnerOnly()

// Locker takes deploy locks: one DynamoDB item per app and environment,
// renewed by heartbeats, with no fixed expiry. Each holding of a lock has
// an owner name of its own, the locker's Owner and the run ID.
type Locker struct {
	cfg    LockConfig
	db     DynamoDBAPI
	client *dynamolock.Client // for CreateTable

	mu     sync.Mutex
	closed bool
	held   sync.WaitGroup
}

// NewLocker returns a locker on the table cfg names. The table must exist;
// CreateTable makes it.
func NewLocker(db DynamoDBAPI, cfg LockConfig) (*Locker, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	l := &Locker{cfg: cfg, db: db}
	c, err := l.newClient(cfg.Owner)
	if err != nil {
		return nil, err
	}
	l.client = c
	return l, nil
}

// newClient returns a dynamolock client acting as owner. Heartbeats are
// sent by Lock itself, so a deploy that stops (crash, shutdown) stops
// renewing its own lock and nothing else.
func (l *Locker) newClient(owner string) (*dynamolock.Client, error) {
	return dynamolock.New(l.db, l.cfg.Table,
		dynamolock.WithLeaseDuration(l.cfg.Lease),
		dynamolock.WithHeartbeatPeriod(0),
		dynamolock.WithOwnerName(owner))
}

// CreateTable creates the lock table, for local use, and waits until it
// is ACTIVE.
func (l *Locker) CreateTable(ctx context.Context, db dynamodb.DescribeTableAPIClient) error {
	var inUse *ddbtypes.ResourceInUseException
	if _, err := l.client.CreateTableWithContext(ctx, l.cfg.Table); err != nil && !errors.As(err, &inUse) {
		return fmt.Errorf("create lock table %s: %w", l.cfg.Table, err)
	}
	w := dynamodb.NewTableExistsWaiter(db, func(o *dynamodb.TableExistsWaiterOptions) { o.MinDelay = 50 * time.Millisecond })
	return w.Wait(ctx, &dynamodb.DescribeTableInput{TableName: &l.cfg.Table}, time.Minute)
}

// Close refuses new locks, then waits until every lock this locker took
// has been released or abandoned: it never releases the lock of a deploy
// that is still running. Stop the deploys first (cancel their contexts);
// they release their locks at their next safe point. If ctx ends first,
// Close returns its error and the locks stay as they are.
func (l *Locker) Close(ctx context.Context) error {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	done := make(chan struct{})
	go func() {
		l.held.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("close deploy locker: deploys still hold locks: %w", ctx.Err())
	}
}

// Status returns the last status stored for key, if any, read from
// DynamoDB.
func (l *Locker) Status(ctx context.Context, key string) (Status, bool, error) {
	it, ok, err := l.Peek(ctx, key)
	if err != nil || !ok {
		return Status{}, false, err
	}
	s, ok, err := decodeStatus(it.Data)
	return s, ok, err
}

// Acquire takes the lock for key, keeping its data, and returns the status
// found in it: under the lock, no other deploy can change it. A released
// lock is taken at once; a lock whose holder stopped heartbeating after one
// lease. If the holder is still heartbeating after wait more, Acquire
// returns a *LockHeldError naming it.
//
// A status written by a newer version of ecs-deploy is an error wrapping
// ErrStatusTooNew; the lock is then released untouched.
func (l *Locker) Acquire(ctx context.Context, key string, wait time.Duration) (*Lock, Status, bool, error) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil, Status{}, false, ErrLockerClosed
	}
	l.held.Add(1)
	l.mu.Unlock()
	runID := randomID()
	client, err := l.newClient(l.cfg.Owner + "/" + runID)
	if err != nil {
		l.held.Done()
		return nil, Status{}, false, err
	}
	lk, err := client.AcquireLockWithContext(ctx, key,
		dynamolock.WithRefreshPeriod(l.cfg.Heartbeat),
		dynamolock.WithAdditionalTimeToWaitForLock(max(wait, l.cfg.Heartbeat)))
	if err != nil {
		l.held.Done()
		var notGranted *dynamolock.LockNotGrantedError
		if errors.As(err, &notGranted) {
			holder, _, _ := l.Status(ctx, key)
			return nil, Status{}, false, &LockHeldError{Key: key, Holder: holder}
		}
		return nil, Status{}, false, fmt.Errorf("acquire deploy lock %s: %w", key, err)
	}
	// The lease counts from here, a little after the write that took the
	// lock was sent, until the first heartbeat, which counts from its own
	// send; dynamolock's expiry (Check) counts from before that write.
	held := &Lock{locker: l, client: client, key: key, lock: lk, runID: runID, stop: make(chan struct{}), done: make(chan struct{}),
		last: time.Now()}
	go held.heartbeat()
	prev, ok, err := decodeStatus(lk.Data())
	if err != nil {
		return nil, Status{}, false, errors.Join(err, held.ReleaseUnchanged(ctx))
	}
	return held, prev, ok, nil
}

// Lock is a held deploy lock.
type Lock struct {
	locker   *Locker
	client   *dynamolock.Client // acting as this holding's owner
	key      string
	lock     *dynamolock.Lock
	runID    string
	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}
	endOnce  sync.Once

	mu      sync.Mutex
	lost    error
	last    time.Time // last successful heartbeat
	onStop  func(StopRequest)
	onLost  func(error)
	stopped bool
}

// OnLost registers fn, called once, from the heartbeat, when the lock is
// lost: another owner took it, or no write landed for a lease.
func (lk *Lock) OnLost(fn func(error)) {
	lk.mu.Lock()
	defer lk.mu.Unlock()
	lk.onLost = fn
}

// RunID identifies this holding of the lock: every acquisition, a first
// try or a resume, has its own. A StopRequest names the run it stops.
func (lk *Lock) RunID() string { return lk.runID }

// OnStopRequest registers fn, called once, from the heartbeat, when a stop
// request naming this run appears in the lock item.
func (lk *Lock) OnStopRequest(fn func(StopRequest)) {
	lk.mu.Lock()
	defer lk.mu.Unlock()
	lk.onStop = fn
}

// heartbeat renews the lock until stopped, and looks for a request to
// stop after each renewal. A heartbeat is not cancelled with the deploy: it
// runs until a lease has passed since the last renewal's send, when a
// waiter may take the lock, and the lock is then lost at once, which stops
// the run (Check has refused AWS changes a heartbeat before).
func (lk *Lock) heartbeat() {
	defer close(lk.done)
	cfg := lk.locker.cfg
	t := time.NewTicker(cfg.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-lk.stop:
			return
		case <-t.C:
		}
		// A heartbeat that lands renews the lease from when it was sent,
		// not answered: a waiter may have seen it land before the answer
		// came back, and counts the lease from there.
		sent := time.Now()
		lk.mu.Lock()
		deadline := lk.last.Add(cfg.Lease)
		lk.mu.Unlock()
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		err := lk.client.SendHeartbeatWithContext(ctx, lk.lock, ownHolding)
		cancel()
		lk.mu.Lock()
		switch {
		case err == nil:
			lk.renewed(sent)
		case errors.As(err, new(*dynamolock.LockNotGrantedError)):
			lk.lost = fmt.Errorf("%w: %s: %v", ErrLockLost, lk.key, err)
		case time.Since(lk.last) > cfg.Lease-cfg.Heartbeat:
			lk.lost = fmt.Errorf("%w: %s: heartbeats failing for %v: %v", ErrLockLost, lk.key, time.Since(lk.last).Round(time.Millisecond), err)
		}
		lost, onLost := lk.lost, lk.onLost
		lk.mu.Unlock()
		if lost != nil {
			if onLost != nil {
				onLost(lost)
			}
			return
		}
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), cfg.Heartbeat)
			lk.checkStopRequest(ctx)
			cancel()
		}
	}
}

// checkStopRequest calls the registered function if the lock item asks
// this run to stop. A failed read is tried again at the next heartbeat.
func (lk *Lock) checkStopRequest(ctx context.Context) {
	lk.mu.Lock()
	fn, stopped := lk.onStop, lk.stopped
	lk.mu.Unlock()
	if fn == nil || stopped {
		return
	}
	it, ok, err := lk.locker.Peek(ctx, lk.key)
	if err != nil || !ok || it.StopRequest.RunID != lk.runID {
		return
	}
	lk.mu.Lock()
	lk.stopped = true
	lk.mu.Unlock()
	fn(it.StopRequest)
}

func (lk *Lock) stopHeartbeat() {
	lk.stopOnce.Do(func() { close(lk.stop) })
	<-lk.done
	lk.endOnce.Do(lk.locker.held.Done)
}

// renewed notes that a write sent at sent landed; lk.mu is held. Writes
// may answer out of order (a heartbeat queued behind a status write), so
// only a later send moves the lease on.
func (lk *Lock) renewed(sent time.Time) {
	if sent.After(lk.last) {
		lk.last = sent
	}
}

// Check returns an error wrapping ErrLockLost once the lock may no longer be
// this deploy's: another owner took it, or no write of this run has landed
// for a lease less a heartbeat, counted from when the last one that landed
// was sent (a waiter that has seen the lock unchanged for a lease may take
// it; the heartbeat in hand keeps the two apart). Call it before every
// change to AWS.
func (lk *Lock) Check() error {
	lk.mu.Lock()
	defer lk.mu.Unlock()
	cfg := lk.locker.cfg
	switch {
	case lk.lost != nil:
	case time.Since(lk.last) > cfg.Lease-cfg.Heartbeat:
		lk.lost = fmt.Errorf("%w: %s: no write landed for %v", ErrLockLost, lk.key, time.Since(lk.last).Round(time.Millisecond))
	case lk.lock.IsExpired():
		lk.lost = fmt.Errorf("%w: %s: lease expired", ErrLockLost, lk.key)
	}
	return lk.lost
}

// Save replaces the lock's data with s. A write that fails for a passing
// reason (throttling, a 5xx, a lost answer) is tried again, with backoff,
// for as long as the lock stays this run's; it fails, and the lock counts
// as lost, once another owner has taken the lock or the lease has run out
// without a write landing.
func (lk *Lock) Save(ctx context.Context, s Status) error {
	data := lk.stamp(s).encode()
	wait := 100 * time.Millisecond
	for {
		if err := lk.Check(); err != nil {
			return err
		}
		// Not cancelled with ctx, for the same reason as heartbeats.
		sent := time.Now()
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), lk.locker.cfg.Lease)
		err := lk.client.SendHeartbeatWithContext(wctx, lk.lock, dynamolock.ReplaceHeartbeatData(data), ownHolding)
		cancel()
		lk.mu.Lock()
		switch {
		case err == nil:
			lk.renewed(sent)
			lk.mu.Unlock()
			return nil
		case errors.As(err, new(*dynamolock.LockNotGrantedError)):
			lk.lost = fmt.Errorf("%w: %s: %v", ErrLockLost, lk.key, err)
			lk.mu.Unlock()
			return lk.lost
		case time.Since(lk.last) > lk.locker.cfg.Lease:
			lk.lost = fmt.Errorf("%w: %s: no write landed for %v: %v", ErrLockLost, lk.key, time.Since(lk.last).Round(time.Millisecond), err)
			lk.mu.Unlock()
			return lk.lost
		}
		lk.mu.Unlock()
		time.Sleep(wait)
		wait = min(2*wait, time.Second)
	}
}

// stamp marks s as written by this run, in the current format.
func (lk *Lock) stamp(s Status) Status {
	s.Version = StatusVersion
	s.Owner = lk.locker.cfg.Owner
	s.RunID = lk.runID
	return s
}

// Release saves the final status and releases the lock; the status stays
// readable by the next deploy.
func (lk *Lock) Release(ctx context.Context, s Status) error {
	return lk.release(ctx, lk.stamp(s).encode())
}

// ReleaseUnchanged releases the lock and leaves its data as it found it.
func (lk *Lock) ReleaseUnchanged(ctx context.Context) error { return lk.release(ctx, nil) }

func (lk *Lock) release(ctx context.Context, data []byte) error {
	lk.stopHeartbeat()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), lk.locker.cfg.Lease)
	defer cancel()
	// Conditional on the owner only, as heartbeats are: a lost answer may
	// have moved the record version on. Written again, it changes nothing.
	set := "SET #released = :one"
	values := map[string]ddbtypes.AttributeValue{":one": &ddbtypes.AttributeValueMemberS{Value: "1"}, ":owner": &ddbtypes.AttributeValueMemberS{Value: lk.owner()}}
	names := map[string]string{"#released": "isReleased", "#owner": "ownerName", "#key": "key"}
	if data != nil {
		set += ", #data = :data"
		names["#data"] = "data"
		values[":data"] = &ddbtypes.AttributeValueMemberB{Value: data}
	}
	_, err := lk.locker.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(lk.locker.cfg.Table),
		Key:                       map[string]ddbtypes.AttributeValue{"key": &ddbtypes.AttributeValueMemberS{Value: lk.key}},
		UpdateExpression:          aws.String(set),
		ConditionExpression:       aws.String("attribute_exists(#key) AND #owner = :owner"),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	})
	if err != nil {
		return fmt.Errorf("release deploy lock %s: %w", lk.key, err)
	}
	return nil
}

// owner is this holding's owner name in the lock item.
func (lk *Lock) owner() string { return lk.locker.cfg.Owner + "/" + lk.runID }

// Abandon stops renewing the lock without releasing it, as a process that
// dies would: another deploy can take it after one lease, and resume.
func (lk *Lock) Abandon() { lk.stopHeartbeat() }

// LockItem is what the lock table holds for a key, read straight from
// DynamoDB.
type LockItem struct {
	// Data is the status, encoded.
	Data []byte
	// Owner (the daemon's name) and RecordVersion say who holds the lock
	// and how recently: every heartbeat writes a new record version.
	Owner, RecordVersion string
	// Released says nobody holds the lock.
	Released bool
	// ReleasedAt is when ReleaseDead released it, if it did: the deploy
	// it held has been waiting for its own request since then, not since
	// its status was last written.
	ReleasedAt time.Time
	// Lease is how long the holder's lease runs from each heartbeat, as
	// its own -lock-lease set it; 0 when unknown.
	Lease time.Duration
	// StopRequest, when its RunID is set, asks that run to stop.
	StopRequest StopRequest
}

// StopRequest asks a running deploy to stop at its next safe point, so a
// rollback or an abort need not wait behind it.
type StopRequest struct {
	// RunID names the holding of the lock to stop (Lock.RunID).
	RunID string
	// By is the request that asks, and Mode what it is.
	By   string
	Mode Mode
}

const attrStopRequest = "stopRequest"

// Peek reads the lock item for key with a consistent read.
func (l *Locker) Peek(ctx context.Context, key string) (LockItem, bool, error) {
	out, err := l.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(l.cfg.Table), ConsistentRead: aws.Bool(true),
		Key: map[string]ddbtypes.AttributeValue{"key": &ddbtypes.AttributeValueMemberS{Value: key}}})
	if err != nil {
		return LockItem{}, false, fmt.Errorf("read deploy lock %s: %w", key, err)
	}
	if out.Item == nil {
		return LockItem{}, false, nil
	}
	str := func(m map[string]ddbtypes.AttributeValue, k string) string {
		v, _ := m[k].(*ddbtypes.AttributeValueMemberS)
		if v == nil {
			return ""
		}
		return v.Value
	}
	// The item's owner is the daemon's name and the holding's run ID.
	owner := str(out.Item, "ownerName")
	if i := strings.LastIndex(owner, "/"); i >= 0 {
		owner = owner[:i]
	}
	it := LockItem{Owner: owner, RecordVersion: str(out.Item, "recordVersionNumber")}
	it.Lease, _ = time.ParseDuration(str(out.Item, "leaseDuration"))
	_, it.Released = out.Item["isReleased"]
	it.ReleasedAt, _ = time.Parse(time.RFC3339Nano, str(out.Item, attrReleasedAt))
	if d, ok := out.Item["data"].(*ddbtypes.AttributeValueMemberB); ok {
		it.Data = d.Value
	}
	if m, ok := out.Item[attrStopRequest].(*ddbtypes.AttributeValueMemberM); ok {
		it.StopRequest = StopRequest{RunID: str(m.Value, "run_id"), By: str(m.Value, "by"), Mode: Mode(str(m.Value, "mode"))}
	}
	return it, true, nil
}

// RequestStop writes a stop request for run into the lock item of key. The
// run's holder reads it at its next heartbeat and stops at its next safe
// point, releasing the lock.
func (l *Locker) RequestStop(ctx context.Context, key string, req StopRequest) error {
	s := func(v string) ddbtypes.AttributeValue { return &ddbtypes.AttributeValueMemberS{Value: v} }
	_, err := l.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                aws.String(l.cfg.Table),
		Key:                      map[string]ddbtypes.AttributeValue{"key": s(key)},
		UpdateExpression:         aws.String("SET #stop = :stop"),
		ConditionExpression:      aws.String("attribute_exists(#key)"),
		ExpressionAttributeNames: map[string]string{"#stop": attrStopRequest, "#key": "key"},
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":stop": &ddbtypes.AttributeValueMemberM{Value: map[string]ddbtypes.AttributeValue{
			"run_id": s(req.RunID), "by": s(req.By), "mode": s(string(req.Mode))}}},
	})
	var failed *ddbtypes.ConditionalCheckFailedException
	if err != nil && !errors.As(err, &failed) {
		return fmt.Errorf("ask deploy lock %s to stop: %w", key, err)
	}
	return nil
}

// releasedOwner names a lock ReleaseDead released: nobody's.
const releasedOwner = "released-dead"

// attrReleasedAt is the lock item's attribute of when ReleaseDead
// released it (LockItem.ReleasedAt).
const attrReleasedAt = "releasedAt"

// ReleaseDead marks released the lock of key whose holder has stopped
// renewing it, so that Acquire takes it at once rather than watching it
// for another lease, keeping its data (the deploy status). It does so
// only if the item still has version, the record version the caller has
// seen unchanged for at least a lease; it says whether it did. A holder
// that renewed the lock since, or another taker, leaves it as it is. The
// release writes a new record version and a new owner name: the holder's
// heartbeats and status writes are conditional on its owner name
// (ownHolding), so were it only stalled, its next write fails and it
// knows it lost the lock. resuming says the caller is the dead deploy's
// own request, about to resume it: the time of the release is then
// recorded (LockItem.ReleasedAt), as the deploy waits for its request
// again from then should that request's daemon die in turn.
func (l *Locker) ReleaseDead(ctx context.Context, key, version string, resuming bool) (bool, error) {
	s := func(v string) ddbtypes.AttributeValue { return &ddbtypes.AttributeValueMemberS{Value: v} }
	set := "SET #released = :released, #version = :new, #owner = :owner"
	names := map[string]string{"#released": "isReleased", "#version": "recordVersionNumber", "#owner": "ownerName"}
	values := map[string]ddbtypes.AttributeValue{":released": s("1"), ":version": s(version),
		":new": s("released-" + randomID()), ":owner": s(releasedOwner + "/" + randomID())}
	if resuming {
		set += ", #at = :at"
		names["#at"], values[":at"] = attrReleasedAt, s(time.Now().UTC().Format(time.RFC3339Nano))
	}
	_, err := l.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(l.cfg.Table),
		Key:                       map[string]ddbtypes.AttributeValue{"key": s(key)},
		UpdateExpression:          aws.String(set),
		ConditionExpression:       aws.String("#version = :version AND attribute_not_exists(#released)"),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	})
	var failed *ddbtypes.ConditionalCheckFailedException
	switch {
	case errors.As(err, &failed):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("release the dead holder's deploy lock %s: %w", key, err)
	}
	return true, nil
}

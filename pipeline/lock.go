package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"cirello.io/dynamolock/v2"
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
	// it. Default: a random name.
	Owner string
	// Lease is how long a lock whose heartbeats stopped stays held. Default 10s.
	Lease time.Duration
	// Heartbeat is how often a held lock is renewed. Default 1s.
	Heartbeat time.Duration
}

func (c *LockConfig) setDefaults() {
	if c.Table == "" {
		c.Table = "DeployLock"
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

// Locker takes deploy locks: one DynamoDB item per app and environment,
// renewed by heartbeats, with no fixed expiry.
type Locker struct {
	cfg    LockConfig
	client *dynamolock.Client
}

// NewLocker returns a locker on the table cfg names. The table must exist;
// CreateTable makes it.
func NewLocker(db DynamoDBAPI, cfg LockConfig) (*Locker, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	opts := []dynamolock.ClientOption{
		dynamolock.WithLeaseDuration(cfg.Lease),
		// Heartbeats are sent by Lock itself, so a deploy that stops
		// (crash, shutdown) stops renewing its own lock and nothing else.
		dynamolock.WithHeartbeatPeriod(0),
	}
	if cfg.Owner != "" {
		opts = append(opts, dynamolock.WithOwnerName(cfg.Owner))
	}
	c, err := dynamolock.New(db, cfg.Table, opts...)
	if err != nil {
		return nil, err
	}
	return &Locker{cfg: cfg, client: c}, nil
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

// Close stops the locker without releasing held locks: they expire after
// one lease, keeping their status for a resume.
func (l *Locker) Close() error { return l.client.Close() }

// Status returns the last status stored for key, if any.
func (l *Locker) Status(ctx context.Context, key string) (Status, bool, error) {
	lk, err := l.client.GetWithContext(ctx, key)
	if err != nil {
		return Status{}, false, err
	}
	s, ok := decodeStatus(lk.Data())
	return s, ok, nil
}

// Acquire takes the lock for key, keeping its data, and returns the status
// found in it: under the lock, no other deploy can change it. A lock whose
// holder stopped heartbeating is taken after one lease; one still renewed
// after that gives a *LockHeldError naming the holder.
func (l *Locker) Acquire(ctx context.Context, key string) (*Lock, Status, bool, error) {
	lk, err := l.client.AcquireLockWithContext(ctx, key,
		dynamolock.WithRefreshPeriod(l.cfg.Heartbeat),
		dynamolock.WithAdditionalTimeToWaitForLock(l.cfg.Heartbeat))
	if err != nil {
		var notGranted *dynamolock.LockNotGrantedError
		if errors.As(err, &notGranted) {
			holder, _, _ := l.Status(ctx, key)
			return nil, Status{}, false, &LockHeldError{Key: key, Holder: holder}
		}
		return nil, Status{}, false, fmt.Errorf("acquire deploy lock %s: %w", key, err)
	}
	prev, ok := decodeStatus(lk.Data())
	held := &Lock{locker: l, key: key, lock: lk, stop: make(chan struct{}), done: make(chan struct{})}
	go held.heartbeat()
	return held, prev, ok, nil
}

func (l *Locker) owner() string {
	if l.cfg.Owner != "" {
		return l.cfg.Owner
	}
	return "ecs-deploy"
}

// Lock is a held deploy lock.
type Lock struct {
	locker   *Locker
	key      string
	lock     *dynamolock.Lock
	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}

	mu   sync.Mutex
	lost error
	last time.Time // last successful heartbeat
}

// heartbeat renews the lock until stopped. A heartbeat in flight is never
// cancelled: were its write applied but its answer lost, the lock's version
// here would no longer match the table's.
func (lk *Lock) heartbeat() {
	defer close(lk.done)
	cfg := lk.locker.cfg
	t := time.NewTicker(cfg.Heartbeat)
	defer t.Stop()
	lk.mu.Lock()
	lk.last = time.Now()
	lk.mu.Unlock()
	for {
		select {
		case <-lk.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), cfg.Lease)
		err := lk.locker.client.SendHeartbeatWithContext(ctx, lk.lock)
		cancel()
		lk.mu.Lock()
		switch {
		case err == nil:
			lk.last = time.Now()
		case errors.As(err, new(*dynamolock.LockNotGrantedError)):
			lk.lost = fmt.Errorf("%w: %s: %v", ErrLockLost, lk.key, err)
		case time.Since(lk.last) > cfg.Lease-cfg.Heartbeat:
			lk.lost = fmt.Errorf("%w: %s: heartbeats failing for %v: %v", ErrLockLost, lk.key, time.Since(lk.last).Round(time.Millisecond), err)
		}
		lost := lk.lost != nil
		lk.mu.Unlock()
		if lost {
			return
		}
	}
}

func (lk *Lock) stopHeartbeat() {
	lk.stopOnce.Do(func() { close(lk.stop) })
	<-lk.done
}

// Check returns an error wrapping ErrLockLost once the lock may no longer be
// this deploy's. Call it before every change to AWS.
func (lk *Lock) Check() error {
	lk.mu.Lock()
	defer lk.mu.Unlock()
	if lk.lost == nil && lk.lock.IsExpired() {
		lk.lost = fmt.Errorf("%w: %s: lease expired", ErrLockLost, lk.key)
	}
	return lk.lost
}

// Save replaces the lock's data with s. It fails, and the lock counts as
// lost, if another owner has taken the lock.
func (lk *Lock) Save(ctx context.Context, s Status) error {
	if err := lk.Check(); err != nil {
		return err
	}
	s.Owner = lk.locker.owner()
	// Not cancelled with ctx, for the same reason as heartbeats.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), lk.locker.cfg.Lease)
	defer cancel()
	err := lk.locker.client.SendHeartbeatWithContext(wctx, lk.lock, dynamolock.ReplaceHeartbeatData(s.encode()))
	lk.mu.Lock()
	defer lk.mu.Unlock()
	if err != nil {
		if errors.As(err, new(*dynamolock.LockNotGrantedError)) {
			lk.lost = fmt.Errorf("%w: %s: %v", ErrLockLost, lk.key, err)
			return lk.lost
		}
		return fmt.Errorf("save deploy status in lock %s: %w", lk.key, err)
	}
	lk.last = time.Now()
	return nil
}

// Release saves the final status and releases the lock; the status stays
// readable by the next deploy.
func (lk *Lock) Release(ctx context.Context, s Status) error {
	lk.stopHeartbeat()
	s.Owner = lk.locker.owner()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), lk.locker.cfg.Lease)
	defer cancel()
	if _, err := lk.locker.client.ReleaseLockWithContext(ctx, lk.lock,
		dynamolock.WithDeleteLock(false), dynamolock.WithDataAfterRelease(s.encode())); err != nil {
		return fmt.Errorf("release deploy lock %s: %w", lk.key, err)
	}
	return nil
}

// Abandon stops renewing the lock without releasing it, as a process that
// dies would: another deploy can take it after one lease, and resume.
func (lk *Lock) Abandon() { lk.stopHeartbeat() }

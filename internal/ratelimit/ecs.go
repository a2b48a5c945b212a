package ratelimit

import (
	"context"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/smithy-go/middleware"
	"golang.org/x/time/rate"

	"ecs-deploy/pipeline"
)

// Bucket is a token bucket: Burst requests at once, Rate a second after.
type Bucket struct {
	Burst int
	Rate  float64
}

// Config sets the client-side buckets of ECS, per account and region.
type Config struct {
	// Read is for Describe and List actions. Default burst 40, 16 a second
	// (AWS: 50, 20).
	Read Bucket
	// Register is for RegisterTaskDefinition. Default burst 10, 0.8 a
	// second (AWS: 20, 1).
	Register Bucket
	// Write is for every other action. Default burst 10, 4 a second.
	Write Bucket
	// Clock is the time buckets refill on. Default the wall clock.
	Clock pipeline.Clock
}

func (c *Config) setDefaults() {
	for _, b := range []struct {
		b     *Bucket
		burst int
		rate  float64
	}{{&c.Read, 40, 16}, {&c.Register, 10, 0.8}, {&c.Write, 10, 4}} {
		if b.b.Burst == 0 {
			b.b.Burst = b.burst
		}
		if b.b.Rate == 0 {
			b.b.Rate = b.rate
		}
	}
	if c.Clock == nil {
		c.Clock = pipeline.RealClock{}
	}
}

// Limits hands out the buckets of each account and region.
type Limits struct {
	cfg Config

	mu  sync.Mutex
	ecs map[[2]string]*limiters
}

// New returns Limits.
func New(cfg Config) *Limits {
	cfg.setDefaults()
	return &Limits{cfg: cfg, ecs: map[[2]string]*limiters{}}
}

type limiters struct {
	read, register, write *rate.Limiter
	clock                 pipeline.Clock
}

func newLimiter(b Bucket) *rate.Limiter { return rate.NewLimiter(rate.Limit(b.Rate), b.Burst) }

// ECS returns the client option that makes an ECS client of account and
// region wait for its bucket before every attempt of every call.
func (l *Limits) ECS(account, region string) func(*ecs.Options) {
	l.mu.Lock()
	key := [2]string{account, region}
	lim, ok := l.ecs[key]
	if !ok {
		lim = &limiters{read: newLimiter(l.cfg.Read), register: newLimiter(l.cfg.Register), write: newLimiter(l.cfg.Write), clock: l.cfg.Clock}
		l.ecs[key] = lim
	}
	l.mu.Unlock()
	return func(o *ecs.Options) {
		o.APIOptions = append(o.APIOptions, func(s *middleware.Stack) error {
			// After the retry middleware, so every attempt waits, and
			// before signing, so a long wait does not age the signature.
			return s.Finalize.Insert(lim, "Signing", middleware.Before)
		})
	}
}

func (*limiters) ID() string { return "ecsDeployRateLimit" }

func (l *limiters) HandleFinalize(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
	if err := l.wait(ctx, middleware.GetOperationName(ctx)); err != nil {
		return middleware.FinalizeOutput{}, middleware.Metadata{}, err
	}
	return next.HandleFinalize(ctx, in)
}

// wait takes a token of op's bucket, sleeping until there is one.
func (l *limiters) wait(ctx context.Context, op string) error {
	lim := l.write
	switch {
	case op == "RegisterTaskDefinition":
		lim = l.register
	case strings.HasPrefix(op, "Describe") || strings.HasPrefix(op, "List"):
		lim = l.read
	}
	now := l.clock.Now()
	r := lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		if err := l.clock.Sleep(ctx, d); err != nil {
			r.CancelAt(l.clock.Now())
			return err
		}
	}
	return nil
}

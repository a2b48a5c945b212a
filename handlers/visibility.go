package handlers

import (
	"context"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// keepInvisible renews the message's invisibility while its request is
// handled, waiting or running, so SQS never hands it to another daemon and
// never counts another receive. SQS keeps a message invisible 12 hours from
// its receipt at most: the last renewal reaches that and no further. The
// returned func stops it; it may be called more than once.
func (h *Deploy) keepInvisible(in *incoming) func() {
	done := make(chan struct{})
	stopped := make(chan struct{})
	var once sync.Once
	timeout := h.VisibilityTimeout
	ctx := context.WithoutCancel(in.ctx)
	go func() {
		defer close(stopped)
		t := time.NewTicker(timeout / 3)
		defer t.Stop()
		for {
			d := min(timeout, maxInvisible-time.Since(in.received)-time.Second)
			if d <= 0 {
				zerolog.Ctx(ctx).Warn().Msg("the message reached the 12 hours SQS keeps it invisible: it will be received again")
				return
			}
			// A renewal that AWS answers slowly (retried, throttled) gives
			// way to the next one before the visibility runs out.
			sctx, cancel := context.WithTimeout(ctx, timeout/3)
			if err := h.Visibility.Set(sctx, in.msg, d); err != nil {
				zerolog.Ctx(ctx).Warn().Err(err).Msg("extend message visibility")
			}
			cancel()
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() {
		once.Do(func() { close(done) })
		<-stopped
	}
}

package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"ecs-deploy/events"
	"ecs-deploy/internal/records"
	"ecs-deploy/pipeline"
)

// errStopping: the daemon is shutting down.
var errStopping = errors.New("the daemon is stopping")

// waiter is a request waiting for its turn at its app and env's lock. It
// holds its message in flight and no deploy slot.
type waiter struct {
	h  *Deploy
	in *incoming
	j  *job
	// place is the request's place in the waiting line; joined says the
	// line holds it as it is.
	place  records.Place
	joined bool
	// queued says deploy.queued went out.
	queued bool
	// version is the lock's record version last seen, since when.
	version      string
	versionSince time.Time
	// detached says the request let go of its receive worker, and holds
	// a place in Deploy.waiting until it ends.
	detached bool
	// over holds the places found to belong to requests already finished.
	over map[string]bool
}

func (h *Deploy) newWaiter(in *incoming, j *job) *waiter {
	return &waiter{h: h, in: in, j: j, place: records.Place{RequestID: j.req.RequestID, Sent: in.sent, First: j.req.Preempts(), Owner: h.Owner},
		over: map[string]bool{}}
}

// lockView is what a waiter makes of the lock item.
type lockView struct {
	// free says the lock may be taken now: nobody holds it, or its holder
	// is dead and its deploy may be taken over.
	free bool
	// mine says the lock's status is this request's own unfinished deploy,
	// which it resumes.
	mine bool
	// why says what the request waits for, when it is not free.
	why string
	// deadVersion, when set, is the record version of a lock whose holder
	// has not renewed it for a lease: free to be released and taken.
	deadVersion string
	// lapsesIn, when set, is when the holder will have gone a lease
	// without renewing the lock, if it does not renew it: the time to
	// look again.
	lapsesIn time.Duration
}

// look reads a lock item. A holder whose record version changed within the
// last lease is alive; one whose version stayed the same for a lease is
// dead, and its lock is released before it is taken (releaseDead). A deploy that was interrupted or whose holder died is given time
// for its own message to come back and resume it before anyone else may
// take the lock.
func (w *waiter) look(item pipeline.LockItem, ok bool, now time.Time) lockView {
	if !ok {
		return lockView{free: true}
	}
	var st pipeline.Status
	_ = json.Unmarshal(item.Data, &st)
	unfinished := st.DeployID != "" && (st.State == pipeline.StateRunning)
	mine := st.DeployID == w.j.req.RequestID && !st.Finished()
	grace := 2*w.h.VisibilityTimeout + w.h.Lease
	key := pipeline.LockKey(w.j.req.App, w.j.req.Env)
	if item.Released {
		// The deploy's own request has had since its last status, or
		// since its dead holder's lock was released, to come back.
		since := st.UpdatedAt
		if item.ReleasedAt.After(since) {
			since = item.ReleasedAt
		}
		if unfinished && !mine && now.Sub(since) < grace {
			return lockView{why: fmt.Sprintf("deploy %s of %s stopped at step %d when its daemon shut down; it goes first when its request comes back", st.DeployID, key, st.Step)}
		}
		return lockView{free: true, mine: mine}
	}
	if item.RecordVersion != w.version {
		w.version, w.versionSince = item.RecordVersion, now
	}
	// The holder's lease is its own -lock-lease, which may be longer
	// than this daemon's during a change of settings.
	deadFor := now.Sub(w.versionSince) - max(w.h.Lease, item.Lease)
	switch {
	case deadFor < 0:
		return lockView{mine: mine, why: (&pipeline.LockHeldError{Key: key, Holder: st}).Error(), lapsesIn: -deadFor}
	case mine || st.DeployID == "" || !unfinished || deadFor > grace:
		return lockView{free: true, mine: mine, deadVersion: item.RecordVersion}
	}
	return lockView{why: fmt.Sprintf("the daemon running deploy %s of %s stopped renewing its lock; that deploy goes first when its request comes back", st.DeployID, key)}
}

// ahead returns the first live place ahead of the waiter's, if any. A
// place not seen for two visibility timeouts belongs to a daemon that died:
// its message has come back to another daemon, which joined again. A place
// whose request has finished was left behind (its daemon died before it
// left the line, or the table did not take the removal): it is taken out.
func (w *waiter) ahead(line []records.Place, now time.Time) *records.Place {
	stale := 2 * w.h.VisibilityTimeout
	for i, p := range line {
		if p.RequestID == w.place.RequestID || now.Sub(p.Seen) > stale || w.over[p.RequestID] || !p.Before(w.place) {
			continue
		}
		if w.finished(p.RequestID) {
			continue
		}
		return &line[i]
	}
	return nil
}

// finished says whether the request's record says it has finished; it
// then takes its place out of the line.
func (w *waiter) finished(requestID string) bool {
	ctx, req := w.in.ctx, w.j.req
	rec, ok, err := w.h.Records.Get(ctx, requestID)
	if err != nil || !ok || !rec.Done() {
		return false
	}
	w.over[requestID] = true
	if err := w.h.Line.Leave(ctx, req.App, req.Env, requestID); err != nil {
		zerolog.Ctx(ctx).Warn().Err(err).Msg("take a finished request out of the waiting line")
	}
	return true
}

// waitTurn returns once the request may try to take the lock: it is first
// in its app and env's line among live places, the lock is free, and the
// order window since it was sent has passed. A rollback or an abort only
// needs to be first: the pipeline asks a running deploy to stop for it.
// The first time it must wait for someone, deploy.queued goes out and the
// record says so. It waits at most MaxQueueWait from its receipt.
func (w *waiter) waitTurn() error {
	h, ctx, req := w.h, w.in.ctx, w.j.req
	log := zerolog.Ctx(ctx)
	for {
		now := time.Now()
		if waited := now.Sub(w.in.received); waited > h.MaxQueueWait {
			return reject(fmt.Errorf("waited %v for the deploy lock of %s/%s, longer than -max-queue-wait %v: send the request again",
				waited.Round(time.Second), req.App, req.Env, h.MaxQueueWait))
		}
		view := lockView{why: "the deploy lock could not be read"}
		if item, ok, err := h.Locks.Peek(ctx, pipeline.LockKey(req.App, req.Env)); err != nil {
			log.Warn().Err(err).Msg("read the deploy lock")
		} else {
			// The moment the item is first seen at a version is read
			// after it arrived: the version was written before it.
			view = w.look(item, ok, time.Now())
		}
		if view.mine && !w.place.First {
			// This request's own deploy, interrupted: it resumes first.
			w.place.First, w.joined = true, false
		}
		if !w.joined || now.Sub(w.place.Seen) > h.VisibilityTimeout/3 {
			w.place.Seen = now
			if err := h.Line.Join(ctx, req.App, req.Env, w.place); err != nil {
				log.Warn().Err(err).Msg("join the waiting line")
			} else {
				w.joined = true
			}
		}
		why := ""
		wait := h.Poll
		line, err := h.Line.Read(ctx, req.App, req.Env)
		var first *records.Place
		if err == nil && w.joined {
			// Once: ahead reads records, which may finish meanwhile.
			first = w.ahead(line, now)
		}
		switch {
		case err != nil || !w.joined:
			why = "the waiting line could not be read"
			if err != nil {
				log.Warn().Err(err).Msg("read the waiting line")
			}
		case first != nil:
			p := first
			why = fmt.Sprintf("request %s, sent %v before it, goes first", p.RequestID, w.place.Sent.Sub(p.Sent).Round(time.Millisecond))
			if !view.free && view.why != "" {
				why = view.why + "; " + why
			}
		case !view.free && !req.Preempts():
			why = view.why
		case !req.Preempts() && !view.mine && now.Before(w.in.sent.Add(h.OrderWindow)):
			// Give requests sent just before this one time to arrive,
			// and look again as soon as the window ends.
			wait = min(wait, w.in.sent.Add(h.OrderWindow).Sub(now))
		case view.deadVersion != "" && !w.releaseDead(view.deadVersion, view.mine):
			// The holder renewed the lock after all, or someone took it:
			// look again.
		default:
			return nil
		}
		if view.lapsesIn > 0 {
			// Look again as soon as a holder that stopped renewing
			// the lock has been silent for a lease.
			wait = min(wait, view.lapsesIn)
		}
		if why != "" && !w.queued {
			w.queued = true
			w.say(why)
		}
		if why != "" {
			w.detach()
		}
		select {
		case <-h.stop:
			return errStopping
		case <-time.After(wait):
		}
	}
}

// releaseDead releases the lock of a holder seen dead for a lease, at the
// version seen, so the pipeline takes it at once instead of watching it
// for another lease. It says whether the request may go on: also when
// the release could not be written, as the pipeline then watches the
// lock itself. mine says the deploy is this request's own, to resume.
func (w *waiter) releaseDead(version string, mine bool) bool {
	ctx, req := w.in.ctx, w.j.req
	ok, err := w.h.Locks.ReleaseDead(ctx, pipeline.LockKey(req.App, req.Env), version, mine)
	if err != nil {
		zerolog.Ctx(ctx).Warn().Err(err).Msg("release the lock of a dead holder")
		return true
	}
	if ok {
		zerolog.Ctx(ctx).Info().Str("lock_version", version).Msg("released the lock of a holder that stopped renewing it")
	}
	return ok
}

// say tells that the request waits: deploy.queued, and the record.
func (w *waiter) say(why string) {
	ctx := context.WithoutCancel(w.in.ctx)
	zerolog.Ctx(ctx).Info().Str("waits_for", why).Msg("request queued")
	w.h.publish(ctx, w.h.event(w.in, w.j, events.DeployQueued, why, nil))
	w.j.rec.State, w.j.rec.Message = records.StateQueued, "waits: "+why
	if err := w.h.Records.Save(ctx, w.j.rec); err != nil {
		zerolog.Ctx(ctx).Warn().Err(err).Msg("record that the request waits")
	}
}

// detach lets the subscriber receive other messages while this one waits,
// unless MaxWaiting requests do so already.
func (w *waiter) detach() {
	if w.detached {
		return
	}
	select {
	case w.h.waiting <- struct{}{}:
	default:
		return
	}
	if detach(w.in.msg.Context()) {
		w.detached = true
		return
	}
	<-w.h.waiting
}

// done gives back what the waiter held.
func (w *waiter) done() {
	if w.detached {
		w.detached = false
		<-w.h.waiting
	}
}

// leave takes the request out of the line.
func (w *waiter) leave() {
	if w.place.Seen.IsZero() {
		return
	}
	ctx := context.WithoutCancel(w.in.ctx)
	if err := w.h.Line.Leave(ctx, w.j.req.App, w.j.req.Env, w.j.req.RequestID); err != nil {
		zerolog.Ctx(ctx).Warn().Err(err).Msg("leave the waiting line")
	}
}

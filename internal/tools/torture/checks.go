package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"ecs-deploy/events"
	"ecs-deploy/internal/awsim"
	"ecs-deploy/internal/rig"
)

// check is one verdict of the run.
type check struct {
	name   string
	ok     bool
	detail string
}

// sentMessage is one message the run put on the queue.
type sentMessage struct {
	// requestID is the request it carries: its deploy_id in events. For a
	// request whose ID cannot be read, the message ID (the daemon uses it).
	requestID string
	messageID string
	// malformed says it was broken on purpose: it must be rejected.
	malformed bool
	// copyOf says it repeats an earlier message's request.
	copyOf bool
}

// examples lists up to five of xs, and how many there are.
func examples(xs []string) string {
	sort.Strings(xs)
	if len(xs) > 5 {
		return fmt.Sprintf("%s and %d more", strings.Join(xs[:5], ", "), len(xs)-5)
	}
	return strings.Join(xs, ", ")
}

// checkOutcomes: every request has a final event, a rejection for the
// malformed ones; copies of a final event share one event_id, and no
// request has two different outcomes. A rejected request may be sent again
// and decided again (nothing ran: README, idempotency), so a copy of one
// may be rejected anew, with an event of its own; but a request that ran
// is never rejected afterwards.
func checkOutcomes(sent []sentMessage, published []rig.Published) check {
	finals := map[string][]rig.Published{}
	for _, p := range published {
		if p.Type.Final() {
			finals[p.DeployID] = append(finals[p.DeployID], p)
		}
	}
	var missing, wrong, split []string
	outcomes := map[events.Type]int{}
	copies, redecided := 0, 0
	seen := map[string]bool{}
	for _, m := range sent {
		if seen[m.requestID] {
			continue
		}
		seen[m.requestID] = true
		var ran, rejected []rig.Published
		for _, f := range finals[m.requestID] {
			if f.Type == events.DeployRejected {
				rejected = append(rejected, f)
			} else {
				ran = append(ran, f)
			}
		}
		switch {
		case len(ran)+len(rejected) == 0:
			missing = append(missing, m.requestID)
			continue
		case m.malformed && (len(ran) > 0 || len(rejected) == 0):
			wrong = append(wrong, fmt.Sprintf("%s (malformed, not rejected)", m.requestID))
		}
		if len(ran) == 0 {
			outcomes[events.DeployRejected]++
			if n := distinctIDs(rejected); n > 1 {
				redecided += n - 1
			}
			copies += len(rejected) - distinctIDs(rejected)
			continue
		}
		outcomes[ran[0].Type]++
		copies += len(ran) - 1
		for _, f := range ran[1:] {
			if f.EventID != ran[0].EventID || f.Type != ran[0].Type {
				split = append(split, fmt.Sprintf("%s (%s %s, then %s %s)", m.requestID, ran[0].Type, ran[0].EventID, f.Type, f.EventID))
				break
			}
		}
		for _, f := range rejected {
			if f.At.After(ran[0].At) {
				split = append(split, fmt.Sprintf("%s (%s, then rejected: %s)", m.requestID, ran[0].Type, f.Error))
				break
			}
		}
	}
	c := check{name: "every request has one outcome", ok: len(missing)+len(wrong)+len(split) == 0}
	c.detail = fmt.Sprintf("%d requests: %s; %d copies of final events published again, %d rejections decided again for a copy",
		len(seen), outcomeList(outcomes), copies, redecided)
	if len(missing) > 0 {
		c.detail += fmt.Sprintf("; no final event for %d: %s", len(missing), examples(missing))
	}
	if len(wrong) > 0 {
		c.detail += fmt.Sprintf("; malformed but not rejected: %s", examples(wrong))
	}
	if len(split) > 0 {
		c.detail += fmt.Sprintf("; two outcomes: %s", examples(split))
	}
	return c
}

func distinctIDs(ps []rig.Published) int {
	ids := map[string]bool{}
	for _, p := range ps {
		ids[p.EventID] = true
	}
	return len(ids)
}

func outcomeList(m map[events.Type]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, string(k))
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%d %s", m[events.Type(k)], k))
	}
	return strings.Join(parts, ", ")
}

// checkExclusive: no two holdings held one lock at once, from the lock
// history. Holdings are told apart by the full owner name, one per
// holding (<daemon>/<run ID>), so two holdings by one daemon are two. A
// lock passes from one holding to another only through a release, and one
// released by someone else than its holder (a dead holder's, ReleaseDead)
// or taken from under a holder (dynamolock's takeover of an expired lock)
// had gone a lease unrenewed. A holding that released its lock writes to
// it no more: a released item whose owner is still the one that released
// it keeps its record version.
//
// The lease is judged without slack, on bounds: the holder's last renewal
// landed no earlier than the latest of its writes was sent on to DynamoDB
// (LockState.Written), and the release or takeover landed no later than it
// was read back (LockState.At). The gap between the two bounds can only
// be longer than the true one, so a loaded machine makes the check miss
// an overlap shorter than two round trips to DynamoDB, never fail a run
// without one. Both waiters that may end a holding, dynamolock's and
// ReleaseDead's caller, count the lease from a read that saw the last
// version, after it landed.
func checkExclusive(states []rig.LockState, lease time.Duration) check {
	type holding struct {
		owner string
		// renewed is when the holding's last renewal landed, at the
		// earliest; zero when none of its writes was read back.
		renewed time.Time
	}
	held := map[string]*holding{}
	// released has, by key, the version each released holding left.
	released := map[string]map[string]string{}
	var bad []string
	transfers, unjudged := 0, 0
	// ended judges a holding ended by someone else at s.
	ended := func(h *holding, s rig.LockState, how string) {
		if h.renewed.IsZero() {
			unjudged++
			return
		}
		if gap := s.At.Sub(h.renewed); gap < lease {
			bad = append(bad, fmt.Sprintf("%s %s at most %v after %s renewed it", s.Key, how, gap.Round(time.Millisecond), h.owner))
		}
	}
	for _, s := range states {
		h := held[s.Key]
		if s.Released {
			rel := released[s.Key]
			if rel == nil {
				rel = map[string]string{}
				released[s.Key] = rel
			}
			if v, ok := rel[s.Holding]; !ok {
				rel[s.Holding] = s.RecordVersion
			} else if v != s.RecordVersion {
				bad = append(bad, fmt.Sprintf("%s written by %s after it was released", s.Key, s.Holding))
			}
		}
		switch {
		case s.Gone:
			delete(held, s.Key)
		case s.Released:
			if h != nil && s.Holding != h.owner {
				ended(h, s, "released by "+s.Holding)
			}
			delete(held, s.Key)
		case h == nil:
			held[s.Key] = &holding{owner: s.Holding, renewed: s.Written}
		case h.owner == s.Holding:
			if s.Written.After(h.renewed) {
				h.renewed = s.Written
			}
		default:
			transfers++
			ended(h, s, "taken by "+s.Holding)
			held[s.Key] = &holding{owner: s.Holding, renewed: s.Written}
		}
	}
	c := check{name: "no lock held by two daemons at once", ok: len(bad) == 0,
		detail: fmt.Sprintf("%d lock states read back, %d taken from an unreleased holder", len(states), transfers)}
	if unjudged > 0 {
		c.detail += fmt.Sprintf(", %d ended holdings not judged (none of their writes read back)", unjudged)
	}
	if len(bad) > 0 {
		c.detail += "; " + examples(bad)
	}
	return c
}

// checkStepsUnderLock: no two deploys of one app and env overlapped, nor
// two runs of one deploy (a resumed copy and its stalled original): each
// step a deploy started, it started holding its app and env's lock, the
// lock's status naming it, as the lock history had it at that moment.
//
// Step events carry no run ID, so a step is put down to the holding in
// force when it started (by owner and time), and that holding must have
// saved the step itself first: the pipeline saves the status, with its
// run ID (the owner's last part) and the step, before each step.started
// goes out. A status the holding took over with the lock names another
// run, and does not count.
func checkStepsUnderLock(states []rig.LockState, published []rig.Published) check {
	byKey := map[string][]rig.LockState{}
	type save struct {
		key, holding, deploy string
		step                 int
	}
	saved := map[save]time.Time{}
	for _, s := range states {
		byKey[s.Key] = append(byKey[s.Key], s)
		if s.Gone || s.Released || s.Status.RunID == "" || s.Status.RunID != runOf(s.Holding) {
			continue
		}
		k := save{s.Key, s.Holding, s.Status.DeployID, s.Status.Step}
		if at, ok := saved[k]; !ok || s.At.Before(at) {
			saved[k] = s.At
		}
	}
	var bad []string
	steps := 0
	for _, p := range published {
		if p.Type != events.StepStarted {
			continue
		}
		steps++
		key := p.App + "-" + p.Env
		hist := byKey[key]
		i := sort.Search(len(hist), func(i int) bool { return hist[i].At.After(p.Time) }) - 1
		if i < 0 {
			bad = append(bad, fmt.Sprintf("%s step %d with no lock written before it", p.DeployID, p.Step))
			continue
		}
		s := hist[i]
		at, ok := saved[save{key, s.Holding, p.DeployID, p.Step}]
		switch {
		case s.Released || s.Gone:
			bad = append(bad, fmt.Sprintf("%s step %d while %s was released", p.DeployID, p.Step, key))
		case s.Status.DeployID != p.DeployID:
			bad = append(bad, fmt.Sprintf("%s step %d while %s held it for %s", p.DeployID, p.Step, s.Holding, s.Status.DeployID))
		case !ok || at.After(p.Time):
			bad = append(bad, fmt.Sprintf("%s step %d while %s held it, not having saved that step: another run's", p.DeployID, p.Step, s.Holding))
		}
	}
	c := check{name: "no two deploys of one app/env overlapped", ok: len(bad) == 0,
		detail: fmt.Sprintf("%d steps started, each under its own run's lock", steps)}
	if len(bad) > 0 {
		c.detail = fmt.Sprintf("%d of %d steps started outside their run's lock: %s", len(bad), steps, examples(bad))
	}
	return c
}

// runOf is the run ID in a holding's owner name, <daemon>/<run ID>.
func runOf(holding string) string {
	i := strings.LastIndex(holding, "/")
	if i < 0 {
		return ""
	}
	return holding[i+1:]
}

// checkMessages: no message was lost: each was consumed (its request has
// a final event), dead-lettered, or is still queued.
func checkMessages(sent []sentMessage, published []rig.Published, deadLettered, queued map[string]bool) check {
	final := map[string]bool{}
	for _, p := range published {
		if p.Type.Final() {
			final[p.DeployID] = true
		}
	}
	var consumed, dead, still int
	var lost []string
	for _, m := range sent {
		switch {
		case queued[m.messageID]:
			still++
		case deadLettered[m.messageID]:
			dead++
		case final[m.requestID]:
			consumed++
		default:
			lost = append(lost, m.messageID+" ("+m.requestID+")")
		}
	}
	c := check{name: "no message lost", ok: len(lost) == 0,
		detail: fmt.Sprintf("%d sent = %d consumed + %d dead-lettered + %d still queued + %d lost", len(sent), consumed, dead, still, len(lost))}
	if len(lost) > 0 {
		c.detail += ": " + examples(lost)
	}
	return c
}

// service is how one app's service ended.
type service struct {
	app string
	// primaries are its PRIMARY task sets' target groups.
	primaries []string
	// serving is the target group its listener's serving rule forwards to.
	serving string
}

// checkServices: every service ends with one PRIMARY task set, behind the
// serving rule.
func checkServices(services []service) check {
	var bad []string
	for _, s := range services {
		switch {
		case len(s.primaries) != 1:
			bad = append(bad, fmt.Sprintf("%s has %d PRIMARY task sets", s.app, len(s.primaries)))
		case s.primaries[0] != s.serving:
			bad = append(bad, fmt.Sprintf("%s's PRIMARY task set is on %s, the serving rule forwards to %s", s.app, s.primaries[0], s.serving))
		}
	}
	c := check{name: "one PRIMARY task set behind the serving rule", ok: len(bad) == 0, detail: fmt.Sprintf("%d services", len(services))}
	if len(bad) > 0 {
		c.detail += ": " + examples(bad)
	}
	return c
}

// checkDowntime: the emulator recorded no interval in which a listener's
// serving rule forwarded to target groups without a healthy target.
func checkDowntime(outages []awsim.Outage) check {
	c := check{name: "no downtime", ok: len(outages) == 0, detail: "the emulator's downtime record is empty"}
	if len(outages) > 0 {
		var o []string
		for _, out := range outages {
			o = append(o, fmt.Sprintf("%s from %s to %s", out.ListenerArn, out.Start.Format(time.TimeOnly), out.End.Format(time.TimeOnly)))
		}
		c.detail = fmt.Sprintf("%d outages: %s", len(outages), examples(o))
	}
	return c
}

// checkNoPanic: no daemon's log tells of a panic. The router's recoverer
// and the pipeline turn one into a retry or a failed step, so the other
// checks can pass over it; it is a bug all the same.
func checkNoPanic(logs []string) check {
	c := check{name: "no panic", ok: true, detail: fmt.Sprintf("%d daemon logs read, none tells of a panic", len(logs))}
	var found []string
	for _, path := range logs {
		b, err := os.ReadFile(path)
		if err != nil {
			return check{name: c.name, detail: fmt.Sprintf("read %s: %v", path, err)}
		}
		if n := bytes.Count(b, []byte("panic")); n > 0 {
			found = append(found, fmt.Sprintf("%s: %d lines", filepath.Base(path), n))
		}
	}
	if len(found) > 0 {
		c.ok, c.detail = false, "panics in "+examples(found)
	}
	return c
}

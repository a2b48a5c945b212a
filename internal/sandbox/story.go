package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"ecs-deploy/events"
	"ecs-deploy/internal/appstatus"
	"ecs-deploy/internal/awsim"
	"ecs-deploy/internal/eventbus"
)

// Story plays six operations on one app against a running daemon, through
// its request queue and its event topic, as any sender would:
//
//  1. deploy build 1: blue to green;
//  2. deploy build 2: green to blue;
//  3. deploy build 3, whose tasks crash: it fails at step 7 and traffic
//     never moves;
//  4. start over with build 4, which sets an alarm off after the swap: it is
//     rolled back automatically, and build 2 serves again;
//  5. deploy build 5;
//  6. roll back by hand: build 2 serves again.
//
// It prints each step as a timeline line, with the colour serving and the
// task sets as they are when the step's event arrives, then a summary
// table.
type Story struct {
	// App and Env name the app to deploy; App must be seeded in Sim.
	App, Env string
	// Sim is the emulator, for its faults and alarms; Seeded what it
	// seeded for App.
	Sim    *awsim.Server
	Seeded awsim.Seeded
	// AWS is the SDK configuration that reaches the queue and topic.
	AWS aws.Config
	// QueueURL takes the requests; TopicArn carries the events.
	QueueURL, TopicArn string
	// Status reads what serves, for each timeline line.
	Status appstatus.Reader
	// Observe, when set, registers a function to be called with each event
	// as it is published, before the daemon goes on (Stack.OnPublish): the
	// timeline then shows AWS as it was at that moment, not as it is when
	// the event arrives through the topic.
	Observe func(func(events.Event))
	// Out gets the timeline; Colour adds ANSI colours to it.
	Out    io.Writer
	Colour bool
	// PartTimeout bounds each operation. Default 60s.
	PartTimeout time.Duration

	snaps *snapshots
}

// snapshots are what served when each event was published.
type snapshots struct {
	mu      sync.Mutex
	byEvent map[string]appstatus.AppEnv
}

func eventKey(e events.Event) string {
	return fmt.Sprintf("%s|%s|%d|%d", e.DeployID, e.Type, e.Step, e.Time.UnixNano())
}

func (s *snapshots) put(e events.Event, st appstatus.AppEnv) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.byEvent[eventKey(e)] = st
}

func (s *snapshots) take(e events.Event) (appstatus.AppEnv, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.byEvent[eventKey(e)]
	delete(s.byEvent, eventKey(e))
	return st, ok
}

// Part is one operation of the story.
type Part struct {
	Title string
	Mode  string
	Build int
	// Want is the final event expected; WantFailedStep, when set, the step
	// that must fail; WantServing the build that must serve at the end
	// (0: the one that served before, on the same task set).
	Want           events.Type
	WantFailedStep int
	WantServing    int
	// setUp runs before the request is sent, onEvent for each of its
	// events, tearDown after its final event.
	setUp    func() error
	onEvent  func(events.Event) error
	tearDown func() error
}

// Outcome is how one part ended.
type Outcome struct {
	N         int           `json:"n"`
	Title     string        `json:"title"`
	DeployID  string        `json:"deploy_id"`
	Final     events.Type   `json:"final"`
	FailedAt  int           `json:"failed_at,omitempty"`
	Before    Serving       `json:"before"`
	After     Serving       `json:"after"`
	Took      time.Duration `json:"took"`
	OK        bool          `json:"ok"`
	Problem   string        `json:"problem,omitempty"`
	EventSeen int           `json:"events"`
}

// Serving is what serves: the colour, its task set and build.
type Serving struct {
	Colour  string `json:"colour"`
	TaskSet string `json:"task_set"`
	Build   int    `json:"build"`
}

func (s Serving) String() string {
	if s.Colour == "" {
		return "?"
	}
	if s.Build == 0 {
		return s.Colour + " (seed)"
	}
	return fmt.Sprintf("%s build %d", s.Colour, s.Build)
}

// Parts returns the story's six parts.
func (s *Story) Parts() []Part {
	alarm := ""
	if len(s.Seeded.Alarms) > 0 {
		alarm = s.Seeded.Alarms[0]
	}
	return []Part{
		{Title: "deploy build 1", Mode: events.ModeDeploy, Build: 1, Want: events.DeploySucceeded, WantServing: 1},
		{Title: "deploy build 2", Mode: events.ModeDeploy, Build: 2, Want: events.DeploySucceeded, WantServing: 2},
		{Title: "deploy build 3, whose tasks crash", Mode: events.ModeDeploy, Build: 3, Want: events.DeployFailed, WantFailedStep: 7,
			setUp: func() error {
				return s.Sim.AddTaskSetFault(awsim.TaskSetFault{Kind: awsim.FaultTasksExit, Service: s.Seeded.Service})
			},
			tearDown: func() error { s.Sim.ClearTaskSetFaults(); return nil }},
		{Title: "start over with build 4; an alarm goes off after the swap", Mode: events.ModeStartOver, Build: 4,
			Want: events.DeployRolledBack, WantServing: 2,
			onEvent: func(e events.Event) error {
				if e.Type == events.StepSucceeded && e.Step == 9 && alarm != "" {
					return s.Sim.SetAlarm(alarm, "ALARM", "sandbox: 5xx rate above threshold after the swap")
				}
				return nil
			},
			tearDown: func() error {
				if alarm == "" {
					return nil
				}
				return s.Sim.SetAlarm(alarm, "OK", "sandbox: back to normal")
			}},
		{Title: "deploy build 5", Mode: events.ModeDeploy, Build: 5, Want: events.DeploySucceeded, WantServing: 5},
		{Title: "roll back by hand", Mode: events.ModeRollback, Want: events.DeploySucceeded, WantServing: 2},
	}
}

// Play plays the parts in order and returns how each ended; it stops at
// the first part that could not be played (an error), not at one that
// ended otherwise than expected.
func (s *Story) Play(ctx context.Context, parts []Part) ([]Outcome, error) {
	if s.PartTimeout == 0 {
		s.PartTimeout = 60 * time.Second
	}
	sqsC, snsC := sqs.NewFromConfig(s.AWS), sns.NewFromConfig(s.AWS)
	f, err := eventbus.Follow(ctx, sqsC, snsC, s.TopicArn, eventbus.FollowOptions{App: s.App, Env: s.Env, NoQueuePolicy: true})
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close(context.WithoutCancel(ctx)) }()
	tl := &timeline{out: s.Out, colour: s.Colour, start: time.Now()}
	snaps := &snapshots{byEvent: map[string]appstatus.AppEnv{}}
	if s.Observe != nil {
		s.Observe(func(e events.Event) {
			if e.App == s.App && e.Env == s.Env {
				snaps.put(e, s.Status.Read(ctx, s.App, s.Env))
			}
		})
		defer s.Observe(nil)
	}
	s.snaps = snaps
	var outs []Outcome
	for i, p := range parts {
		o, err := s.play(ctx, f, tl, i+1, len(parts), p)
		outs = append(outs, o)
		if err != nil {
			return outs, fmt.Errorf("part %d (%s): %w", i+1, p.Title, err)
		}
	}
	return outs, nil
}

func (s *Story) play(ctx context.Context, f *eventbus.Follower, tl *timeline, n, total int, p Part) (Outcome, error) {
	o := Outcome{N: n, Title: p.Title, DeployID: fmt.Sprintf("sandbox-%d-%s", n, time.Now().UTC().Format("150405"))}
	o.Before = s.serving(ctx)
	tl.header(n, total, p, o.Before)
	if p.setUp != nil {
		if err := p.setUp(); err != nil {
			return o, err
		}
	}
	start := time.Now()
	if err := s.send(ctx, o.DeployID, p); err != nil {
		return o, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.PartTimeout)
	defer cancel()
	lastStep := 0
	for {
		e, err := f.Next(ctx)
		if err != nil {
			return o, fmt.Errorf("waiting for the end of %s: %w", o.DeployID, err)
		}
		if e.DeployID != o.DeployID {
			continue
		}
		o.EventSeen++
		if p.onEvent != nil {
			if err := p.onEvent(e); err != nil {
				return o, err
			}
		}
		if e.Type == events.StepFailed {
			o.FailedAt = e.Step
		}
		if e.Type == events.StepStarted || e.Type == events.DeployAccepted {
			continue
		}
		if e.Step > 0 && e.Step < lastStep {
			tl.note("rolling back: traffic goes back to the task set that served before")
		}
		lastStep = max(lastStep, e.Step)
		st, ok := s.snaps.take(e)
		if !ok {
			st = s.Status.Read(ctx, s.App, s.Env)
		}
		for i := range st.TaskSets {
			// The task set this deploy just created runs the event's build.
			if ts := &st.TaskSets[i]; ts.DeployID == e.DeployID && ts.Build == 0 && e.Mode != events.ModeRollback {
				ts.Build = e.Build
			}
		}
		tl.line(e, st)
		if e.Type.Final() {
			o.Final = e.Type
			break
		}
	}
	o.Took = time.Since(start)
	if p.tearDown != nil {
		if err := p.tearDown(); err != nil {
			return o, err
		}
	}
	o.After = s.serving(ctx)
	o.OK, o.Problem = p.check(o)
	tl.verdict(o)
	return o, nil
}

// check says whether the part ended as the story expects.
func (p Part) check(o Outcome) (bool, string) {
	var problems []string
	if o.Final != p.Want {
		problems = append(problems, fmt.Sprintf("ended with %s, want %s", o.Final, p.Want))
	}
	if p.WantFailedStep != 0 && o.FailedAt != p.WantFailedStep {
		problems = append(problems, fmt.Sprintf("failed at step %d, want step %d", o.FailedAt, p.WantFailedStep))
	}
	switch {
	case p.WantServing == 0 && (o.After.TaskSet != o.Before.TaskSet || o.After.Colour != o.Before.Colour):
		problems = append(problems, fmt.Sprintf("traffic moved from %s to %s", o.Before, o.After))
	case p.WantServing != 0 && o.After.Build != p.WantServing:
		problems = append(problems, fmt.Sprintf("%s serves, want build %d", o.After, p.WantServing))
	}
	if len(problems) == 0 {
		return true, ""
	}
	return false, fmt.Sprint(problems)
}

// serving reads what serves now.
func (s *Story) serving(ctx context.Context) Serving {
	st := s.Status.Read(ctx, s.App, s.Env)
	v := Serving{Colour: st.Serving}
	if ts := st.ServingTaskSet; ts != nil {
		v.TaskSet, v.Build = ts.Arn, ts.Build
	}
	return v
}

// send puts the part's request on the queue, as enqueue does.
func (s *Story) send(ctx context.Context, id string, p Part) error {
	req := events.Request{Schema: events.RequestSchema, RequestID: id, App: s.App, Env: s.Env, Build: p.Build, Mode: p.Mode,
		RequestedBy: "sandbox", Reason: p.Title}
	if err := req.Validate(); err != nil {
		return err
	}
	body, err := json.Marshal(req)
	if err != nil {
		return err
	}
	_, err = sqs.NewFromConfig(s.AWS).SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(s.QueueURL), MessageBody: aws.String(string(body)),
		MessageAttributes: map[string]sqstypes.MessageAttributeValue{
			"correlation_id": {DataType: aws.String("String"), StringValue: aws.String("sandbox-story")}}})
	if err != nil {
		return fmt.Errorf("send request %s: %w", id, err)
	}
	return nil
}

// AllOK says whether every part ended as expected.
func AllOK(outs []Outcome, parts int) error {
	if len(outs) != parts {
		return fmt.Errorf("%d of %d parts played", len(outs), parts)
	}
	var errs []error
	for _, o := range outs {
		if !o.OK {
			errs = append(errs, fmt.Errorf("part %d (%s): %s", o.N, o.Title, o.Problem))
		}
	}
	return errors.Join(errs...)
}

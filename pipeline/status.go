package pipeline

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// State is where a deploy stands.
type State string

const (
	StateRunning    State = "running"
	StateSucceeded  State = "succeeded"
	StateFailed     State = "failed"
	StateRolledBack State = "rolled_back"
	StateAborted    State = "aborted"
)

// StatusVersion is the format of the Status this code writes. Version 2
// added the rollback goal (RollingBack), RunID and CommandsOpen; version 1
// statuses carry no version and read as version 1.
const StatusVersion = 2

// ErrStatusTooNew is returned for a status written by a newer ecs-deploy:
// acting on it could undo what that version meant, so nothing is done.
var ErrStatusTooNew = errors.New("deploy status written by a newer ecs-deploy")

// Status is the deploy status: what a resume, a start-over or a rollback
// needs to know of the last operation on an app and environment. It is the
// lock's data, replaced before each step and kept when the lock is released.
type Status struct {
	Version       int       `json:"version"`
	DeployID      string    `json:"deploy_id"`
	App           string    `json:"app"`
	Env           string    `json:"env"`
	Mode          Mode      `json:"mode"`
	State         State     `json:"state"`
	Step          int       `json:"step"`
	Owner         string    `json:"owner,omitempty"`
	RunID         string    `json:"run_id,omitempty"`
	Artifact      Artifact  `json:"artifact"`
	ConfigSHA     string    `json:"config_sha"`
	RequestedBy   string    `json:"requested_by,omitempty"`
	CorrelationID string    `json:"correlation_id,omitempty"`
	UpdatedAt     time.Time `json:"updated_at"`
	Error         string    `json:"error,omitempty"`

	// TaskDefinitionArn is the task definition step 5 registered.
	TaskDefinitionArn string `json:"task_definition_arn,omitempty"`
	// NewColour is the colour the deploy moves traffic to; NewTaskSetArn the
	// task set step 6 created on it.
	NewColour     string `json:"new_colour,omitempty"`
	NewTaskSetArn string `json:"new_task_set_arn,omitempty"`
	// PreviousColour and PreviousTaskSetArn are what served before the
	// first try of this deploy: the task set a rollback re-serves.
	PreviousColour     string `json:"previous_colour,omitempty"`
	PreviousTaskSetArn string `json:"previous_task_set_arn,omitempty"`
	// PreviousArtifact is the build that task set runs, when the deploy
	// that put it there is known.
	PreviousArtifact *Artifact `json:"previous_artifact,omitempty"`

	// RollingBack says the operation works to put the previous task set
	// back: it serves, and it is PRIMARY. Once set it stays set, so a
	// retried, redelivered or resumed operation keeps that goal and never
	// serves the new task set again.
	RollingBack bool `json:"rolling_back,omitempty"`
	// Closes names the unfinished deploy a rollback or an abort ended.
	Closes string `json:"closes,omitempty"`
	// CommandsOpen says the pre-deploy commands ran and the post-deploy
	// commands have not run since.
	CommandsOpen bool `json:"commands_open,omitempty"`
	// SkipCommands says the request asked for no pre- or post-deploy
	// commands.
	SkipCommands bool `json:"skip_commands,omitempty"`

	// Ended lists the operations that ended on this app and env before
	// this one, newest first, at most maxEnded: a copy of their request
	// that comes back late (its daemon died before recording the outcome)
	// is answered from it, never run again. A daemon older than this field
	// drops it when it writes a status: the guarantee holds once every
	// daemon sharing the lock table has it. Requests that continue an
	// operation (a resume, a second rollback or abort finishing one under
	// way) keep its ID and are not listed.
	Ended []Ended `json:"ended,omitempty"`
}

// Ended is an operation that a later one replaced in the lock's status:
// enough of it to answer its request again.
type Ended struct {
	DeployID string `json:"deploy_id"`
	Mode     Mode   `json:"mode"`
	State    State  `json:"state"`
	Step     int    `json:"step,omitempty"`
	Error    string `json:"error,omitempty"`
	Closes   string `json:"closes,omitempty"`
}

// maxEnded bounds Status.Ended: a copy of a request comes back within
// hours (SQS keeps a message hidden at most 12), not twenty operations
// later.
const maxEnded = 20

// endedSoFar is Ended for an operation that replaces the one s describes.
func (s Status) endedSoFar() []Ended {
	if s.DeployID == "" {
		return nil
	}
	// The error says why in an answer; its first line is enough there,
	// and every status write carries the list.
	msg, _, _ := strings.Cut(s.Error, "\n")
	if len(msg) > 300 {
		msg = msg[:300] + "…"
	}
	e := Ended{DeployID: s.DeployID, Mode: s.Mode, State: s.State, Step: s.Step, Error: msg, Closes: s.Closes}
	return append([]Ended{e}, s.Ended[:min(len(s.Ended), maxEnded-1)]...)
}

// Finished says whether the operation the status describes has ended for
// good: succeeded, rolled back or aborted. A running or failed one can be
// resumed.
func (s Status) Finished() bool {
	return s.State == StateSucceeded || s.State == StateRolledBack || s.State == StateAborted
}

// answerFor answers a request with ID id from the status: the operation
// it names finished, or it was closed by the operation the status records
// (a rollback or an abort), or a later operation replaced it (Ended). ok
// is false when the status says nothing of id, or id is the operation it
// records, unfinished (to resume).
func (s Status) answerFor(id string) (Status, error, bool) {
	if s.DeployID == id && !s.Finished() {
		return Status{}, nil, false
	}
	current := Ended{DeployID: s.DeployID, Mode: s.Mode, State: s.State, Step: s.Step, Error: s.Error, Closes: s.Closes}
	for i, e := range append([]Ended{current}, s.Ended...) {
		var answer error
		switch {
		case e.Closes == id && e.Mode == ModeAbort:
			answer = permanentError{fmt.Errorf("%w: deploy %s was aborted by %s", ErrUnfinished, id, e.DeployID)}
		case e.Closes == id:
			answer = permanentError{fmt.Errorf("%w: deploy %s was rolled back by %s", ErrRolledBack, id, e.DeployID)}
		case e.DeployID != id:
			continue
		case e.State == StateRolledBack:
			answer = permanentError{fmt.Errorf("%w: %s", ErrRolledBack, e.Error)}
		case e.State == StateSucceeded || e.State == StateAborted:
		default:
			answer = permanentError{fmt.Errorf("%w: %s %s stopped at step %d (%s) in state %s, and a later operation replaced it: send a new request",
				ErrUnfinished, e.Mode, id, e.Step, stepName(e.Step), e.State)}
		}
		if i == 0 {
			return s, answer, true
		}
		return Status{DeployID: e.DeployID, App: s.App, Env: s.Env, Mode: e.Mode, State: e.State, Step: e.Step, Error: e.Error, Closes: e.Closes}, answer, true
	}
	return Status{}, nil, false
}

// movedTraffic says whether the deploy got as far as the swap; at step 9
// only the listener can tell whether the swap was done.
func (s Status) movedTraffic() bool { return s.Step > StepSwap }

// previous names what served before the deploy, for people: its build
// when known, and its task set.
func (s Status) previous() string {
	id := s.PreviousTaskSetArn[strings.LastIndex(s.PreviousTaskSetArn, "/")+1:]
	if s.PreviousArtifact != nil && s.PreviousArtifact.BuildNumber > 0 {
		return fmt.Sprintf("build %d (task set %s)", s.PreviousArtifact.BuildNumber, id)
	}
	return "task set " + id
}

func (s Status) encode() []byte {
	b, _ := json.Marshal(s)
	return b
}

// decodeStatus reads a stored status; ok is false when there is none.
func decodeStatus(b []byte) (Status, bool, error) {
	var s Status
	if len(b) == 0 || json.Unmarshal(b, &s) != nil || s.DeployID == "" {
		return Status{}, false, nil
	}
	if s.Version > StatusVersion {
		return Status{}, false, fmt.Errorf("%w: deploy %s of %s-%s has status format %d; this daemon knows up to %d: upgrade it to act on this app and environment",
			ErrStatusTooNew, s.DeployID, s.App, s.Env, s.Version, StatusVersion)
	}
	return s, true, nil
}

package pipeline

import (
	"encoding/json"
	"time"
)

// State is where a deploy stands.
type State string

const (
	StateRunning    State = "running"
	StateSucceeded  State = "succeeded"
	StateFailed     State = "failed"
	StateRolledBack State = "rolled_back"
)

// Status is the deploy status: what a resume, a start-over or a rollback
// needs to know of the last deploy of an app and environment. It is the
// lock's data, replaced before each step and kept when the lock is released.
type Status struct {
	DeployID      string    `json:"deploy_id"`
	App           string    `json:"app"`
	Env           string    `json:"env"`
	Mode          Mode      `json:"mode"`
	State         State     `json:"state"`
	Step          int       `json:"step"`
	Owner         string    `json:"owner,omitempty"`
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
}

// Finished says whether the deploy the status describes has ended for good:
// succeeded or rolled back. A running or failed one can be resumed.
func (s Status) Finished() bool { return s.State == StateSucceeded || s.State == StateRolledBack }

func (s Status) encode() []byte {
	b, _ := json.Marshal(s)
	return b
}

func decodeStatus(b []byte) (Status, bool) {
	var s Status
	if len(b) == 0 || json.Unmarshal(b, &s) != nil || s.DeployID == "" {
		return Status{}, false
	}
	return s, true
}

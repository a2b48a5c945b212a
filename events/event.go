package events

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"
)

// EventSchema versions the JSON form of Event.
const EventSchema = "ecs-deploy.event/v1"

// Type names what happened.
type Type string

const (
	DeployAccepted   Type = "deploy.accepted"
	DeployRejected   Type = "deploy.rejected"
	DeployQueued     Type = "deploy.queued"
	DeployStarted    Type = "deploy.started"
	StepStarted      Type = "step.started"
	StepSucceeded    Type = "step.succeeded"
	StepFailed       Type = "step.failed"
	DeploySucceeded  Type = "deploy.succeeded"
	DeployFailed     Type = "deploy.failed"
	DeployRolledBack Type = "deploy.rolled_back"
)

// Final says whether t ends a deploy.
func (t Type) Final() bool {
	switch t {
	case DeployRejected, DeploySucceeded, DeployFailed, DeployRolledBack:
		return true
	}
	return false
}

// Event is one thing that happened to a deploy. Secrets never go in one.
type Event struct {
	Schema string `json:"schema"`
	// EventID identifies the event: the same event published again keeps
	// it, so subscribers can drop duplicates (SNS delivers at least once).
	EventID       string    `json:"event_id,omitempty"`
	Type          Type      `json:"event_type"`
	Time          time.Time `json:"time"`
	DeployID      string    `json:"deploy_id"`
	App           string    `json:"app"`
	Env           string    `json:"env"`
	CorrelationID string    `json:"correlation_id,omitempty"`
	Mode          string    `json:"mode,omitempty"`
	// Step and StepName are set on step events.
	Step     int    `json:"step,omitempty"`
	StepName string `json:"step_name,omitempty"`
	// Artifact, Build and ConfigSHA say what is being deployed.
	Artifact  string `json:"artifact,omitempty"`
	Build     int    `json:"build,omitempty"`
	ConfigSHA string `json:"config_sha,omitempty"`
	// Project is the artifact's ArtifactDB project, so a recorder can tag
	// the build without reading the deploy config.
	Project string `json:"project,omitempty"`
	// RequestedBy says who asked for the deploy, for people watching it.
	RequestedBy string `json:"requested_by,omitempty"`
	// Message says what happened in words; Error is set on failures.
	Message string `json:"message,omitempty"`
	Error   string `json:"error,omitempty"`
}

// Attributes returns the message attributes an event is published with:
// at most five, well under SNS's limit of ten for raw delivery.
func (e Event) Attributes() map[string]string {
	attrs := map[string]string{
		"event_type": string(e.Type),
		"app":        e.App,
		"env":        e.Env,
		"deploy_id":  e.DeployID,
	}
	if e.CorrelationID != "" {
		attrs["correlation_id"] = e.CorrelationID
	}
	return attrs
}

// WithID returns e with its EventID set, if it had none, to a digest of its
// content: publishing the same event again gives the same ID.
func (e Event) WithID() Event {
	if e.EventID != "" {
		return e
	}
	b, _ := json.Marshal(e)
	sum := sha256.Sum256(b)
	e.EventID = hex.EncodeToString(sum[:16])
	return e
}

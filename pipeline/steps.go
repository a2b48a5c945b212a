package pipeline

import (
	"cmp"
	"fmt"
)

// The twelve steps of a deploy.
const (
	StepLock = iota + 1
	StepPreDeploy
	StepReadColour
	StepCleanUp
	StepTaskDefinition
	StepCreateTaskSet
	StepWaitStable
	StepVerify
	StepSwap
	StepPrimary
	StepBake
	StepPostDeploy
)

var stepNames = [...]string{
	StepLock:           "acquire lock",
	StepPreDeploy:      "pre-deploy commands",
	StepReadColour:     "read active colour",
	StepCleanUp:        "remove non-primary task sets",
	StepTaskDefinition: "register task definition",
	StepCreateTaskSet:  "create task set",
	StepWaitStable:     "wait for steady state",
	StepVerify:         "verify before traffic",
	StepSwap:           "swap rule priorities",
	StepPrimary:        "make task set primary",
	StepBake:           "watch after swap",
	StepPostDeploy:     "post-deploy commands",
}

// stepName is StepName for messages: "?" for no step.
func stepName(n int) string { return cmp.Or(StepName(n), "?") }

// StepName names step n (1 to 12), as events carry it; "" for no step.
func StepName(n int) string {
	if n < 1 || n >= len(stepNames) {
		return ""
	}
	return stepNames[n]
}

// HookPoint is where in a step a Hook is called.
type HookPoint int

const (
	// BeforeStep: the status says the step runs; it has not touched AWS.
	BeforeStep HookPoint = iota
	// AfterStep: the step's work is done; the status does not say so yet.
	AfterStep
)

// StepError is a step that failed.
type StepError struct {
	Step int
	Err  error
}

func (e *StepError) Error() string {
	return fmt.Sprintf("step %d (%s): %v", e.Step, stepName(e.Step), e.Err)
}

func (e *StepError) Unwrap() error { return e.Err }

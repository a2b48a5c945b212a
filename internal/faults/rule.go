package faults

import (
	"errors"
	"fmt"
	"time"
)

// Rule says which failures to inject into calls of one operation.
type Rule struct {
	// Operation is the API operation ("CreateTaskSet", "SendMessage"); empty
	// or "*" matches every operation.
	Operation string `json:"operation,omitempty"`
	// ThrottleRate is the share of matching calls answered with a throttling
	// error, from 0 to 1. Default 0.
	ThrottleRate float64 `json:"throttle_rate,omitempty"`
	// ErrorRate is the share of matching calls answered with HTTP 500. Default 0.
	ErrorRate float64 `json:"error_rate,omitempty"`
	// DropRate is the share of matching calls whose connection is closed
	// without an answer, before the service sees them. Default 0.
	DropRate float64 `json:"drop_rate,omitempty"`
	// LoseAnswerRate is the share of matching calls the service carries out
	// but whose answer is lost: the connection closes instead. Default 0.
	LoseAnswerRate float64 `json:"lose_answer_rate,omitempty"`
	// Latency delays every matching call before anything else. Default 0.
	Latency time.Duration `json:"latency,omitempty"`
	// Times is how many failures the rule injects before it expires; latency
	// alone does not count. Default 0: no limit.
	Times int `json:"times,omitempty"`
}

// Validate reports every field out of range.
func (r Rule) Validate() error {
	var errs []error
	for name, v := range map[string]float64{"throttle_rate": r.ThrottleRate, "error_rate": r.ErrorRate, "drop_rate": r.DropRate, "lose_answer_rate": r.LoseAnswerRate} {
		if v < 0 || v > 1 {
			errs = append(errs, fmt.Errorf("faults.Rule.%s is %v, want 0 to 1", name, v))
		}
	}
	if r.ThrottleRate+r.ErrorRate+r.DropRate+r.LoseAnswerRate > 1 {
		errs = append(errs, errors.New("faults.Rule rates add up to more than 1"))
	}
	if r.Latency < 0 {
		errs = append(errs, fmt.Errorf("faults.Rule.latency is negative (%v)", r.Latency))
	}
	if r.Times < 0 {
		errs = append(errs, fmt.Errorf("faults.Rule.times is negative (%d)", r.Times))
	}
	return errors.Join(errs...)
}

func (r Rule) matches(op string) bool {
	return r.Operation == "" || r.Operation == "*" || r.Operation == op
}

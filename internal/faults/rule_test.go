package faults

import (
	"testing"
	"time"
)

func TestRuleValidate(t *testing.T) {
	bad := []Rule{
		{ThrottleRate: -0.1},
		{ErrorRate: 1.5},
		{ThrottleRate: 0.6, ErrorRate: 0.6},
		{Latency: -time.Second},
		{Times: -1},
		{DropRate: 0.5, LoseAnswerRate: 0.6},
	}
	for _, r := range bad {
		if err := r.Validate(); err == nil {
			t.Errorf("%+v accepted", r)
		}
	}
	if err := (Rule{Operation: "X", ThrottleRate: 0.5, ErrorRate: 0.5}).Validate(); err != nil {
		t.Errorf("valid rule refused: %v", err)
	}
}

func TestTimesExpiresRule(t *testing.T) {
	in := NewInjector(7)
	if err := in.Add(Rule{Operation: "Send", ErrorRate: 1, Times: 2}); err != nil {
		t.Fatal(err)
	}
	var kinds []Kind
	for range 4 {
		_, k := in.decide("Send")
		kinds = append(kinds, k)
	}
	if kinds[0] != Error || kinds[1] != Error || kinds[2] != "" || kinds[3] != "" {
		t.Fatalf("kinds = %v, want two errors then none", kinds)
	}
	if _, k := in.decide("Other"); k != "" {
		t.Fatalf("rule for Send applied to Other: %v", k)
	}
	if len(in.Rules()) != 0 {
		t.Fatalf("expired rule still active: %+v", in.Rules())
	}
}

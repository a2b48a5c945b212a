package awsim

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"ecs-deploy/internal/faults"
)

// controlHandler serves the emulator's controls under /_awsim/, as JSON:
//
//	POST   /_awsim/seed             Scenario -> Seeded
//	GET    /_awsim/clock            -> {"now", "scale"}
//	POST   /_awsim/clock            {"scale": 100, "advance": "30s"}
//	GET    /_awsim/faults           -> active rules
//	POST   /_awsim/faults           {"operation", "throttle_rate", "error_rate", "drop_rate", "latency": "200ms", "times"}
//	DELETE /_awsim/faults           clears the API faults
//	POST   /_awsim/task-set-faults  TaskSetFault
//	DELETE /_awsim/task-set-faults  clears them
//	POST   /_awsim/target-health    {"target_group_arn", "healthy", "targets", "persist"}
//	POST   /_awsim/alarms           {"name", "state", "reason"}
//	GET    /_awsim/calls            -> {"total", "by_operation"}
//	DELETE /_awsim/calls            empties the call log
//	GET    /_awsim/downtime         -> outages
//	DELETE /_awsim/downtime         forgets them
//	GET    /_awsim/consistency      -> {"delay", "seed"}
//	POST   /_awsim/consistency      {"delay": "2s", "seed": 7}: ECS reads lag changes (Consistency)
//	DELETE /_awsim/consistency      every ECS read fresh again (the default)
//	POST   /_awsim/throttling       Throttling: ECS token buckets per account ({} for AWS's defaults); DELETE turns it off
//	POST   /_awsim/paging           {"page_limit": 2}: every paged answer holds at most 2 items (LimitPages)
func (s *Server) controlHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /_awsim/seed", func(w http.ResponseWriter, r *http.Request) {
		var sc Scenario
		if !readControl(w, r, &sc) {
			return
		}
		out, err := s.Seed(sc)
		answer(w, out, err)
	})
	mux.HandleFunc("GET /_awsim/clock", func(w http.ResponseWriter, r *http.Request) {
		answer(w, s.clockState(), nil)
	})
	mux.HandleFunc("POST /_awsim/clock", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Scale   *float64 `json:"scale"`
			Advance string   `json:"advance"`
		}
		if !readControl(w, r, &in) {
			return
		}
		if in.Scale != nil {
			if err := s.SetTimeScale(*in.Scale); err != nil {
				answer(w, nil, err)
				return
			}
		}
		if in.Advance != "" {
			d, err := time.ParseDuration(in.Advance)
			if err != nil || d < 0 {
				answer(w, nil, fmt.Errorf("advance %q is not a positive duration", in.Advance))
				return
			}
			s.Advance(d)
		}
		answer(w, s.clockState(), nil)
	})
	mux.HandleFunc("GET /_awsim/faults", func(w http.ResponseWriter, r *http.Request) {
		answer(w, s.faults.Rules(), nil)
	})
	mux.HandleFunc("POST /_awsim/faults", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			faults.Rule
			Latency string `json:"latency"`
		}
		if !readControl(w, r, &in) {
			return
		}
		if in.Latency != "" {
			d, err := time.ParseDuration(in.Latency)
			if err != nil {
				answer(w, nil, fmt.Errorf("latency %q is not a duration", in.Latency))
				return
			}
			in.Rule.Latency = d
		}
		answer(w, in.Rule, s.faults.Add(in.Rule))
	})
	mux.HandleFunc("DELETE /_awsim/faults", func(w http.ResponseWriter, r *http.Request) {
		s.faults.Clear()
		answer(w, struct{}{}, nil)
	})
	mux.HandleFunc("POST /_awsim/task-set-faults", func(w http.ResponseWriter, r *http.Request) {
		var f TaskSetFault
		if !readControl(w, r, &f) {
			return
		}
		answer(w, f, s.AddTaskSetFault(f))
	})
	mux.HandleFunc("DELETE /_awsim/task-set-faults", func(w http.ResponseWriter, r *http.Request) {
		s.ClearTaskSetFaults()
		answer(w, struct{}{}, nil)
	})
	mux.HandleFunc("POST /_awsim/throttling", func(w http.ResponseWriter, r *http.Request) {
		var in Throttling
		if !readControl(w, r, &in) {
			return
		}
		s.SetThrottling(&in)
		answer(w, in, nil)
	})
	mux.HandleFunc("DELETE /_awsim/throttling", func(w http.ResponseWriter, r *http.Request) {
		s.SetThrottling(nil)
		answer(w, struct{}{}, nil)
	})
	mux.HandleFunc("POST /_awsim/paging", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			PageLimit int `json:"page_limit"`
		}
		if !readControl(w, r, &in) {
			return
		}
		answer(w, in, s.LimitPages(in.PageLimit))
	})
	mux.HandleFunc("POST /_awsim/target-health", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			TargetGroupArn string   `json:"target_group_arn"`
			Healthy        bool     `json:"healthy"`
			Targets        []string `json:"targets,omitempty"`
			// Persist makes the whole target group fail or pass, its
			// future targets included (FailTargetGroup).
			Persist bool `json:"persist,omitempty"`
		}
		if !readControl(w, r, &in) {
			return
		}
		if in.Persist {
			answer(w, in, s.FailTargetGroup(in.TargetGroupArn, !in.Healthy))
			return
		}
		answer(w, in, s.SetTargetHealth(in.TargetGroupArn, in.Healthy, in.Targets...))
	})
	mux.HandleFunc("POST /_awsim/alarms", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Name   string `json:"name"`
			State  string `json:"state"`
			Reason string `json:"reason"`
		}
		if !readControl(w, r, &in) {
			return
		}
		answer(w, in, s.SetAlarm(in.Name, in.State, in.Reason))
	})
	mux.HandleFunc("GET /_awsim/calls", func(w http.ResponseWriter, r *http.Request) {
		counts := s.CallCounts()
		total := 0
		for _, n := range counts {
			total += n
		}
		answer(w, map[string]any{"total": total, "by_operation": counts}, nil)
	})
	mux.HandleFunc("DELETE /_awsim/calls", func(w http.ResponseWriter, r *http.Request) {
		s.ResetCalls()
		answer(w, struct{}{}, nil)
	})
	mux.HandleFunc("GET /_awsim/downtime", func(w http.ResponseWriter, r *http.Request) {
		answer(w, nonNilOutages(s.Downtime()), nil)
	})
	mux.HandleFunc("DELETE /_awsim/downtime", func(w http.ResponseWriter, r *http.Request) {
		s.ResetDowntime()
		answer(w, struct{}{}, nil)
	})
	s.consistencyControls(mux)
	return mux
}

func nonNilOutages(o []Outage) []Outage {
	if o == nil {
		return []Outage{}
	}
	return o
}

func (s *Server) clockState() map[string]any {
	return map[string]any{"now": s.Now(), "scale": s.clock.Scale()}
}

// readControl decodes a control request body, refusing unknown fields; it
// answers the error itself and returns false on bad input.
func readControl(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		answer(w, nil, fmt.Errorf("decode %s body: %w", r.URL.Path, err))
		return false
	}
	return true
}

func answer(w http.ResponseWriter, v any, err error) {
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
		return
	}
	_ = json.NewEncoder(w).Encode(v)
}

package awsim

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"

	"ecs-deploy/internal/awsproto"
)

// staleRead rewrites the answer to an ECS read as eventual consistency sees
// it (see Consistency). The handler has answered from the true state; only
// the resources some change to which is still hidden are rewritten, and only
// through the answer's JSON, so the handlers know nothing of this. Callers
// hold s.mu.
func (s *Server) staleRead(op string, body, answer []byte) ([]byte, error) {
	if !s.consistency.on() || len(s.consistency.hidden) == 0 {
		return answer, nil
	}
	switch op {
	case "DescribeServices":
		return s.staleServices(answer)
	case "DescribeTaskSets":
		return s.staleTaskSets(body, answer)
	case "DescribeTasks":
		return s.staleTasks(body, answer)
	case "ListTasks":
		return s.staleTaskList(body, answer)
	case "DescribeTaskDefinition":
		return s.staleTaskDefinition(body, answer)
	}
	return answer, nil
}

// jsonObject is a JSON object whose members are kept as they were written.
type jsonObject map[string]json.RawMessage

func (o jsonObject) str(key string) string {
	var v string
	_ = json.Unmarshal(o[key], &v)
	return v
}

func (o jsonObject) set(key string, v any) {
	b, _ := json.Marshal(v)
	o[key] = b
}

func parseObject(b []byte) jsonObject {
	var o jsonObject
	_ = json.Unmarshal(b, &o)
	return o
}

// like returns the members of view that the fresh answer shows, so a stale
// object keeps the shape the handler chose (tags only when asked for, say).
// With no fresh answer (the resource is gone) it returns view whole.
func like(view []byte, fresh jsonObject) json.RawMessage {
	if fresh == nil {
		return view
	}
	v := parseObject(view)
	for k := range v {
		if _, ok := fresh[k]; !ok {
			delete(v, k)
		}
	}
	b, _ := json.Marshal(v)
	return b
}

// byArn indexes objects by the string member key.
func byArn(items []json.RawMessage, key string) map[string]jsonObject {
	m := map[string]jsonObject{}
	for _, it := range items {
		o := parseObject(it)
		m[o.str(key)] = o
	}
	return m
}

func (s *Server) staleServices(answer []byte) ([]byte, error) {
	out := parseObject(answer)
	var services []json.RawMessage
	var failures []ecsFailure
	_ = json.Unmarshal(out["services"], &services)
	_ = json.Unmarshal(out["failures"], &failures)
	kept := []json.RawMessage{}
	for _, raw := range services {
		fresh := parseObject(raw)
		arn := fresh.str("serviceArn")
		view, ok := s.consistency.view(arn, s.now)
		if !ok {
			failures = append(failures, ecsFailure{Arn: arn, Reason: "MISSING"})
			continue
		}
		kept = append(kept, like(view, fresh))
	}
	out.set("services", kept)
	out.set("failures", failures)
	return json.Marshal(out)
}

// matchesTaskSet says whether ref names the task set, as an ID, an ARN, or
// the ID's last part.
func matchesTaskSet(ts jsonObject, ref string) bool {
	id := ts.str("id")
	return id == ref || ts.str("taskSetArn") == ref || (!strings.HasPrefix(ref, "arn:") && strings.HasSuffix(id, "/"+ref))
}

func findIn(sets []json.RawMessage, ref string) jsonObject {
	for _, raw := range sets {
		if ts := parseObject(raw); matchesTaskSet(ts, ref) {
			return ts
		}
	}
	return nil
}

// staleTaskSets answers DescribeTaskSets from the service as reads see it:
// a task set created too recently is MISSING, one removed too recently is
// still there, as it was.
func (s *Server) staleTaskSets(body, answer []byte) ([]byte, error) {
	var in struct {
		Cluster  string   `json:"cluster"`
		Service  string   `json:"service"`
		TaskSets []string `json:"taskSets"`
	}
	_ = json.Unmarshal(body, &in)
	c, err := s.findCluster(in.Cluster)
	if err != nil {
		return answer, nil
	}
	svc, err := s.findService(c, in.Service)
	if err != nil {
		return answer, nil
	}
	view, ok := s.consistency.view(svc.ServiceArn, s.now)
	if !ok {
		return nil, awsproto.Errorf("ServiceNotFoundException", "Service not found.")
	}
	var seen []json.RawMessage
	_ = json.Unmarshal(parseObject(view)["taskSets"], &seen)
	out := parseObject(answer)
	var fresh []json.RawMessage
	var failures []ecsFailure
	_ = json.Unmarshal(out["taskSets"], &fresh)
	_ = json.Unmarshal(out["failures"], &failures)
	freshByArn := byArn(fresh, "taskSetArn")
	sets := []json.RawMessage{}
	if len(in.TaskSets) == 0 {
		for _, raw := range seen {
			sets = append(sets, like(raw, freshByArn[parseObject(raw).str("taskSetArn")]))
		}
	}
	for _, ref := range in.TaskSets {
		switch ts, now := findIn(seen, ref), findIn(fresh, ref); {
		case ts != nil:
			// Drop the failure the fresh answer gave a task set reads still see.
			failures = slices.DeleteFunc(failures, func(f ecsFailure) bool {
				return f.Arn == ref || lastPart(f.Arn) == lastPart(ref) || f.Arn == ts.str("taskSetArn")
			})
			raw, _ := json.Marshal(ts)
			sets = append(sets, like(raw, freshByArn[ts.str("taskSetArn")]))
		case now != nil:
			failures = append(failures, ecsFailure{Arn: ref, Reason: "MISSING"})
		}
	}
	out.set("taskSets", sets)
	out.set("failures", failures)
	return json.Marshal(out)
}

// staleTasks answers DescribeTasks with the tasks as reads see them.
func (s *Server) staleTasks(body, answer []byte) ([]byte, error) {
	var in struct {
		Cluster string   `json:"cluster"`
		Tasks   []string `json:"tasks"`
	}
	_ = json.Unmarshal(body, &in)
	c, err := s.findCluster(in.Cluster)
	if err != nil {
		return answer, nil
	}
	out := parseObject(answer)
	var fresh []json.RawMessage
	var failures []ecsFailure
	_ = json.Unmarshal(out["tasks"], &fresh)
	_ = json.Unmarshal(out["failures"], &failures)
	freshByArn := byArn(fresh, "taskArn")
	known := s.consistency.known()
	failures = slices.DeleteFunc(failures, func(f ecsFailure) bool { return known[f.Arn] })
	tasks := []json.RawMessage{}
	for _, ref := range in.Tasks {
		arn := ref
		if !strings.HasPrefix(ref, "arn:") {
			arn = s.arn("ecs", "task/"+c.ClusterName+"/"+ref)
		}
		if !known[arn] {
			continue
		}
		view, ok := s.consistency.view(arn, s.now)
		if !ok || parseObject(view).str("clusterArn") != c.ClusterArn {
			failures = append(failures, ecsFailure{Arn: arn, Reason: "MISSING"})
			continue
		}
		tasks = append(tasks, like(view, freshByArn[arn]))
	}
	out.set("tasks", tasks)
	out.set("failures", failures)
	return json.Marshal(out)
}

// taskFilter is what ListTasks selects on.
type taskFilter struct {
	Cluster       string `json:"cluster"`
	ServiceName   string `json:"serviceName"`
	StartedBy     string `json:"startedBy"`
	Family        string `json:"family"`
	DesiredStatus string `json:"desiredStatus"`
	LaunchType    string `json:"launchType"`
}

// selects says whether ListTasks with filter f lists the task, given its
// JSON, in the cluster with ARN clusterArn.
func (f taskFilter) selects(taskJSON []byte, clusterArn string) bool {
	var t task
	if json.Unmarshal(taskJSON, &t) != nil {
		return false
	}
	want := f.DesiredStatus
	if want == "" {
		want = "RUNNING"
	}
	status := t.DesiredStatus == want
	if want == "PENDING" {
		status = t.DesiredStatus == "RUNNING" && t.LastStatus != "RUNNING"
	}
	return status && t.ClusterArn == clusterArn &&
		(f.ServiceName == "" || t.Group == "service:"+lastPart(f.ServiceName)) &&
		(f.StartedBy == "" || t.StartedBy == f.StartedBy) &&
		(f.Family == "" || strings.Contains(t.TaskDefinitionArn, "task-definition/"+f.Family+":")) &&
		(f.LaunchType == "" || t.LaunchType == f.LaunchType)
}

// staleTaskList answers ListTasks with the tasks as reads see them: a task
// launched too recently is not listed yet, one whose desired status changed
// too recently is listed under the old one. The last page takes the tasks
// reads still see but the fresh answer left out.
func (s *Server) staleTaskList(body, answer []byte) ([]byte, error) {
	var in taskFilter
	_ = json.Unmarshal(body, &in)
	c, err := s.findCluster(in.Cluster)
	if err != nil {
		return answer, nil
	}
	out := parseObject(answer)
	var arns []string
	_ = json.Unmarshal(out["taskArns"], &arns)
	lastPage := out.str("nextToken") == ""
	for arn := range s.consistency.known() {
		if resourceType(arn) != "task" {
			continue
		}
		truth, exists := s.consistency.truth[arn]
		listed := exists && in.selects(truth, c.ClusterArn)
		view, seen := s.consistency.view(arn, s.now)
		shown := seen && in.selects(view, c.ClusterArn)
		switch {
		case listed && !shown:
			arns = slices.DeleteFunc(arns, func(a string) bool { return a == arn })
		case !listed && shown && lastPage:
			arns = append(arns, arn)
		}
	}
	slices.Sort(arns)
	out.set("taskArns", arns)
	return json.Marshal(out)
}

// resourceType returns the resource type of an ECS ARN: "task", "task-set",
// "service", "task-definition".
func resourceType(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 6 {
		return ""
	}
	typ, _, _ := strings.Cut(parts[5], "/")
	return typ
}

// staleTaskDefinition answers DescribeTaskDefinition as reads see the
// family: a revision registered too recently is not there yet, so a bare
// family names the latest revision reads see as ACTIVE.
func (s *Server) staleTaskDefinition(body, answer []byte) ([]byte, error) {
	var in struct {
		TaskDefinition string   `json:"taskDefinition"`
		Include        []string `json:"include"`
	}
	_ = json.Unmarshal(body, &in)
	out := parseObject(answer)
	fresh := parseObject(out["taskDefinition"])
	arn := fresh.str("taskDefinitionArn")
	notFound := clientErr("Unable to describe task definition.")
	if strings.Contains(lastPart(in.TaskDefinition), ":") {
		view, ok := s.consistency.view(arn, s.now)
		if !ok {
			return nil, notFound
		}
		out["taskDefinition"] = like(view, fresh)
		return json.Marshal(out)
	}
	family := fresh.str("family")
	best, bestRev := "", 0
	for known := range s.consistency.known() {
		view, ok := s.consistency.view(known, s.now)
		if !ok || resourceType(known) != "task-definition" {
			continue
		}
		td := parseObject(view)
		rev, _ := strconv.Atoi(string(td["revision"]))
		if td.str("family") == family && td.str("status") == "ACTIVE" && rev > bestRev {
			best, bestRev = known, rev
		}
	}
	switch {
	case best == "":
		return nil, notFound
	case best != arn:
		// Answer for the revision reads see, with its own tags.
		b, _ := json.Marshal(map[string]any{"taskDefinition": best, "include": in.Include})
		again, err := (*Server).ecsDescribeTaskDefinition(s, b)
		if err != nil {
			return nil, err
		}
		if answer, err = json.Marshal(again); err != nil {
			return nil, err
		}
		out = parseObject(answer)
		fresh = parseObject(out["taskDefinition"])
	}
	view, _ := s.consistency.view(best, s.now)
	out["taskDefinition"] = like(view, fresh)
	return json.Marshal(out)
}

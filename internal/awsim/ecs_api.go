package awsim

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"

	"ecs-deploy/internal/awsproto"
)

var ecsOps = map[string]apiHandler{
	"CreateCluster":               (*Server).ecsCreateCluster,
	"PutClusterCapacityProviders": (*Server).ecsPutClusterCapacityProviders,
	"DescribeClusters":            (*Server).ecsDescribeClusters,
	"ListClusters":                (*Server).ecsListClusters,
	"RegisterTaskDefinition":      (*Server).ecsRegisterTaskDefinition,
	"DescribeTaskDefinition":      (*Server).ecsDescribeTaskDefinition,
	"DeregisterTaskDefinition":    (*Server).ecsDeregisterTaskDefinition,
	"CreateService":               (*Server).ecsCreateService,
	"DescribeServices":            (*Server).ecsDescribeServices,
	"ListServices":                (*Server).ecsListServices,
	"UpdateService":               (*Server).ecsUpdateService,
	"CreateTaskSet":               (*Server).ecsCreateTaskSet,
	"DescribeTaskSets":            (*Server).ecsDescribeTaskSets,
	"UpdateTaskSet":               (*Server).ecsUpdateTaskSet,
	"UpdateServicePrimaryTaskSet": (*Server).ecsUpdateServicePrimaryTaskSet,
	"DeleteTaskSet":               (*Server).ecsDeleteTaskSet,
	"ListTasks":                   (*Server).ecsListTasks,
	"DescribeTasks":               (*Server).ecsDescribeTasks,
	"TagResource":                 (*Server).ecsTagResource,
	"ListTagsForResource":         (*Server).ecsListTagsForResource,
}

func (s *Server) serveECS(w http.ResponseWriter, r *http.Request, op string) {
	h, ok := ecsOps[op]
	if !ok {
		awsproto.WriteError(w, awsproto.ProtocolJSON, "", awsproto.Errorf("UnknownOperationException", "operation %q is not emulated", op))
		return
	}
	h = withRequestLimits(op, h)
	body, _ := io.ReadAll(r.Body)
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	// The answer is encoded under the lock: it points into the state.
	s.lock()
	if err := s.admit(op); err != nil {
		s.mu.Unlock()
		awsproto.WriteError(w, awsproto.ProtocolJSON, "", awsproto.AsError(err))
		return
	}
	out, err := h(s, body)
	var answer []byte
	s.refresh()
	s.noteECSChanges()
	if err == nil {
		answer, err = json.Marshal(out)
	}
	if err == nil {
		answer, err = s.staleRead(op, body, answer)
	}
	s.mu.Unlock()
	if err != nil {
		awsproto.WriteError(w, awsproto.ProtocolJSON, "", awsproto.AsError(err))
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-RequestId", awsproto.RequestID())
	_, _ = w.Write(answer)
}

// decode reads a JSON request into v, answering malformed input the way
// ECS does.
func decode(body []byte, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		return awsproto.Errorf("SerializationException", "cannot decode request: %v", err)
	}
	return nil
}

func invalidParam(format string, args ...any) error {
	return awsproto.Errorf("InvalidParameterException", format, args...)
}

func clientErr(format string, args ...any) error {
	return awsproto.Errorf("ClientException", format, args...)
}

// lastPart returns what follows the last "/" of an ARN, or ref itself.
func lastPart(ref string) string {
	if i := strings.LastIndex(ref, "/"); i >= 0 {
		return ref[i+1:]
	}
	return ref
}

// page slices items for maxResults/nextToken pagination; tokens are
// offsets. maxResults, when given, must be 1 to 100; without it a page
// holds up to defaultMax items. A limit above 0 (LimitPages) makes pages
// shorter still, as AWS may.
func page[T any](items []T, maxResults *int, defaultMax int, token string, limit int) ([]T, string, error) {
	start := 0
	if token != "" {
		if err := json.Unmarshal([]byte(token), &start); err != nil || start < 0 || start > len(items) {
			return nil, "", invalidParam("nextToken %q is not valid", token)
		}
	}
	size := defaultMax
	if maxResults != nil {
		if *maxResults < 1 || *maxResults > 100 {
			return nil, "", invalidParam("maxResults must be between 1 and 100.")
		}
		size = *maxResults
	}
	if limit > 0 {
		size = min(size, limit)
	}
	end := min(start+size, len(items))
	next := ""
	if end < len(items) {
		b, _ := json.Marshal(end)
		next = string(b)
	}
	return items[start:end], next, nil
}

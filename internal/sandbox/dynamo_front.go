package sandbox

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// dynamoFront stands in front of minidyn's server and fills in what it
// lacks for the SDK and the AWS CLI:
//
//   - CreateTable, DescribeTable and DeleteTable answers get a TableStatus
//     (ACTIVE, or DELETING), without which the SDK's table waiters never
//     finish;
//   - ListTables, UpdateTimeToLive and DescribeTimeToLive are answered
//     here (the TTL setting is kept; items do not expire);
//   - every answer carries the X-Amz-Crc32 header DynamoDB sends, so the
//     SDK's response checksum validation passes instead of warning.
type dynamoFront struct {
	next http.Handler

	mu     sync.Mutex
	tables map[string]bool
	ttl    map[string]ttlSpec
}

type ttlSpec struct {
	AttributeName string `json:"AttributeName"`
	Enabled       bool   `json:"Enabled"`
}

func newDynamoFront(next http.Handler) *dynamoFront {
	return &dynamoFront{next: next, tables: map[string]bool{}, ttl: map[string]ttlSpec{}}
}

// maxDynamoBody is DynamoDB's own request limit, with room for the JSON.
const maxDynamoBody = 16 << 20

func (f *dynamoFront) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxDynamoBody))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	target := r.Header.Get("X-Amz-Target")
	op := target[strings.LastIndex(target, ".")+1:]
	var status int
	var answer []byte
	switch op {
	case "ListTables":
		status, answer = f.listTables(body)
	case "UpdateTimeToLive":
		status, answer = f.updateTTL(body)
	case "DescribeTimeToLive":
		status, answer = f.describeTTL(body)
	default:
		r.Body = io.NopCloser(bytes.NewReader(body))
		rec := httptest.NewRecorder()
		f.next.ServeHTTP(rec, r)
		status, answer = rec.Code, rec.Body.Bytes()
		if status == http.StatusOK {
			answer = f.patch(op, answer)
		}
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.Header().Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE(answer)), 10))
	w.Header().Set("Content-Length", strconv.Itoa(len(answer)))
	w.WriteHeader(status)
	_, _ = w.Write(answer)
}

// patch adds the table status to table answers and keeps the list of
// tables up to date.
func (f *dynamoFront) patch(op string, answer []byte) []byte {
	var field, state string
	switch op {
	case "CreateTable", "DescribeTable":
		field, state = map[string]string{"CreateTable": "TableDescription", "DescribeTable": "Table"}[op], "ACTIVE"
	case "DeleteTable":
		field, state = "TableDescription", "DELETING"
	default:
		return answer
	}
	var out map[string]json.RawMessage
	if json.Unmarshal(answer, &out) != nil {
		return answer
	}
	var desc map[string]json.RawMessage
	if json.Unmarshal(out[field], &desc) != nil || desc == nil {
		return answer
	}
	desc["TableStatus"], _ = json.Marshal(state)
	var name string
	_ = json.Unmarshal(desc["TableName"], &name)
	out[field], _ = json.Marshal(desc)
	f.mu.Lock()
	switch op {
	case "CreateTable", "DescribeTable":
		f.tables[name] = true
	case "DeleteTable":
		delete(f.tables, name)
		delete(f.ttl, name)
	}
	f.mu.Unlock()
	b, err := json.Marshal(out)
	if err != nil {
		return answer
	}
	return b
}

func (f *dynamoFront) listTables(body []byte) (int, []byte) {
	var in struct {
		ExclusiveStartTableName string
		Limit                   int
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return dynamoError("SerializationException", err.Error())
	}
	f.mu.Lock()
	names := make([]string, 0, len(f.tables))
	for n := range f.tables {
		names = append(names, n)
	}
	f.mu.Unlock()
	slices.Sort(names)
	if in.ExclusiveStartTableName != "" {
		i, _ := slices.BinarySearch(names, in.ExclusiveStartTableName)
		for i < len(names) && names[i] <= in.ExclusiveStartTableName {
			i++
		}
		names = names[i:]
	}
	out := map[string]any{"TableNames": names}
	if in.Limit > 0 && len(names) > in.Limit {
		out["TableNames"] = names[:in.Limit]
		out["LastEvaluatedTableName"] = names[in.Limit-1]
	}
	b, _ := json.Marshal(out)
	return http.StatusOK, b
}

func (f *dynamoFront) updateTTL(body []byte) (int, []byte) {
	var in struct {
		TableName               string
		TimeToLiveSpecification ttlSpec
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return dynamoError("SerializationException", err.Error())
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.tables[in.TableName] {
		return dynamoError("ResourceNotFoundException", fmt.Sprintf("Requested resource not found: Table: %s not found", in.TableName))
	}
	if in.TimeToLiveSpecification.AttributeName == "" {
		return dynamoError("ValidationException", "TimeToLiveSpecification.AttributeName is required")
	}
	f.ttl[in.TableName] = in.TimeToLiveSpecification
	b, _ := json.Marshal(map[string]any{"TimeToLiveSpecification": in.TimeToLiveSpecification})
	return http.StatusOK, b
}

func (f *dynamoFront) describeTTL(body []byte) (int, []byte) {
	var in struct{ TableName string }
	if err := json.Unmarshal(body, &in); err != nil {
		return dynamoError("SerializationException", err.Error())
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.tables[in.TableName] {
		return dynamoError("ResourceNotFoundException", fmt.Sprintf("Requested resource not found: Table: %s not found", in.TableName))
	}
	desc := map[string]any{"TimeToLiveStatus": "DISABLED"}
	if s, ok := f.ttl[in.TableName]; ok && s.Enabled {
		desc = map[string]any{"TimeToLiveStatus": "ENABLED", "AttributeName": s.AttributeName}
	}
	b, _ := json.Marshal(map[string]any{"TimeToLiveDescription": desc})
	return http.StatusOK, b
}

// dynamoError is a DynamoDB JSON error answer.
func dynamoError(typ, msg string) (int, []byte) {
	b, _ := json.Marshal(map[string]string{"__type": "com.amazonaws.dynamodb.v20120810#" + typ, "message": msg})
	return http.StatusBadRequest, b
}

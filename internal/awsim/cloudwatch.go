package awsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/smithy-go/encoding/cbor"

	"ecs-deploy/internal/awsproto"
)

// alarm is a CloudWatch metric alarm or, with a rule, a composite alarm.
type alarm struct {
	name, arn, state, reason string
	metric, namespace        string
	threshold                float64
	comparison, statistic    string
	periods, period          int64
	updated, configured      time.Time

	// rule is a composite alarm's AlarmRule, ruleSrc its text.
	rule    alarmRule
	ruleSrc string
}

var alarmStates = map[string]bool{"OK": true, "ALARM": true, "INSUFFICIENT_DATA": true}

// SetAlarm sets an alarm's state, creating the alarm if it does not exist.
func (s *Server) SetAlarm(name, state, reason string) error {
	if !alarmStates[state] {
		return fmt.Errorf("alarm state %q is not OK, ALARM or INSUFFICIENT_DATA", state)
	}
	s.lock()
	defer s.unlock()
	a := s.alarms[name]
	if a == nil {
		a = s.newAlarm(name)
	}
	s.setAlarmState(a, state, reason)
	return nil
}

func (s *Server) newAlarm(name string) *alarm {
	a := &alarm{name: name, arn: s.arn("cloudwatch", "alarm:"+name), state: "INSUFFICIENT_DATA",
		reason: "Unchecked: Initial alarm creation", updated: s.now, configured: s.now,
		metric: "HTTPCode_Target_5XX_Count", namespace: "AWS/ApplicationELB", statistic: "Sum",
		comparison: "GreaterThanThreshold", periods: 1, period: 60}
	s.alarms[name] = a
	return a
}

// cwJSONContentType is the content type of CloudWatch's JSON protocol.
const cwJSONContentType = "application/x-amz-json-1.0"

// serveCloudWatch answers CloudWatch calls in Smithy RPC v2 CBOR (what the
// Go SDK sends) or JSON 1.0 (what the AWS CLI sends).
func (s *Server) serveCloudWatch(w http.ResponseWriter, r *http.Request, p awsproto.Protocol, op string) {
	if p == awsproto.ProtocolJSON {
		// Errors as well as answers: CloudWatch speaks JSON 1.0, not 1.1.
		w.Header().Set("Content-Type", cwJSONContentType)
	}
	body, _ := io.ReadAll(r.Body)
	in, err := decodeCWInput(p, body)
	if err != nil {
		awsproto.WriteError(w, p, "", awsproto.AsError(err))
		return
	}
	var out map[string]any
	s.lock()
	out, err = s.cloudWatchOp(op, in)
	s.unlock()
	if err != nil {
		awsproto.WriteError(w, p, "", awsproto.AsError(err))
		return
	}
	if p == awsproto.ProtocolJSON {
		writeJSON(w, cwJSONContentType, toJSON(out))
		return
	}
	w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
	w.Header().Set("Content-Type", "application/cbor")
	w.Header().Set("X-Amzn-RequestId", awsproto.RequestID())
	_, _ = w.Write(cbor.Encode(toCBOR(out)))
}

// serveCloudWatchQuery answers CloudWatch calls in the query protocol, which
// older AWS CLIs send.
func (s *Server) serveCloudWatchQuery(w http.ResponseWriter, op string, form url.Values) {
	tree, err := parseQuery(form)
	if err != nil {
		awsproto.WriteError(w, awsproto.ProtocolQuery, cwXMLNS, awsproto.AsError(err))
		return
	}
	in := cwInput{}
	for k, v := range tree {
		if k != "Action" && k != "Version" {
			in[k] = fromQuery(v)
		}
	}
	var out map[string]any
	s.lock()
	out, err = s.cloudWatchOp(op, in)
	s.unlock()
	if err != nil {
		awsproto.WriteError(w, awsproto.ProtocolQuery, cwXMLNS, awsproto.AsError(err))
		return
	}
	var buf bytes.Buffer
	if err := writeQueryResult(&buf, op, cwXMLNS, toQuery(out)); err != nil {
		awsproto.WriteError(w, awsproto.ProtocolQuery, cwXMLNS, awsproto.AsError(err))
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	_, _ = w.Write(buf.Bytes())
}

func fromQuery(v any) any {
	switch v := v.(type) {
	case qlist:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = fromQuery(e)
		}
		return out
	case qmap:
		out := map[string]any{}
		for k, e := range v {
			out[k] = fromQuery(e)
		}
		return out
	case string:
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			return f
		}
	}
	return v
}

func toQuery(v any) any {
	switch v := v.(type) {
	case time.Time:
		return v.UTC().Format("2006-01-02T15:04:05.000Z")
	case []any:
		out := qlist{}
		for _, e := range v {
			out = append(out, toQuery(e))
		}
		return out
	case map[string]any:
		out := qmap{}
		for k, e := range v {
			out[k] = toQuery(e)
		}
		return out
	}
	return fmt.Sprint(v)
}

func (s *Server) cloudWatchOp(op string, in cwInput) (map[string]any, error) {
	switch op {
	case "DescribeAlarms":
		return s.cwDescribeAlarms(in)
	case "SetAlarmState":
		return s.cwSetAlarmState(in)
	case "PutMetricAlarm":
		return s.cwPutMetricAlarm(in)
	case "PutCompositeAlarm":
		return s.cwPutCompositeAlarm(in)
	}
	return nil, awsproto.Errorf("UnknownOperationException", "operation %q is not emulated", op)
}

// cwInput is a CloudWatch request decoded from either protocol into plain
// Go values: string, float64, bool, []any, map[string]any.
type cwInput map[string]any

func decodeCWInput(p awsproto.Protocol, body []byte) (cwInput, error) {
	in := cwInput{}
	if len(body) == 0 {
		return in, nil
	}
	if p == awsproto.ProtocolJSON {
		if err := json.Unmarshal(body, &in); err != nil {
			return nil, awsproto.Errorf("SerializationException", "request body is not a JSON object: %v", err)
		}
		return in, nil
	}
	v, err := cbor.Decode(body)
	m, ok := v.(cbor.Map)
	if err != nil || !ok {
		return nil, awsproto.Errorf("SerializationException", "request body is not a CBOR map")
	}
	for k, v := range m {
		in[k] = fromCBOR(v)
	}
	return in, nil
}

func fromCBOR(v cbor.Value) any {
	switch v := v.(type) {
	case cbor.String:
		return string(v)
	case cbor.List:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = fromCBOR(e)
		}
		return out
	case cbor.Map:
		out := map[string]any{}
		for k, e := range v {
			out[k] = fromCBOR(e)
		}
		return out
	case cbor.Bool:
		return bool(v)
	}
	if f, err := cbor.AsFloat64(v); err == nil {
		return f
	}
	if i, err := cbor.AsInt64(v); err == nil {
		return float64(i)
	}
	return nil
}

func toCBOR(v any) cbor.Value {
	switch v := v.(type) {
	case string:
		return cbor.String(v)
	case float64:
		return cbor.Float64(v)
	case int64:
		if v < 0 {
			return cbor.NegInt(uint64(-v))
		}
		return cbor.Uint(uint64(v))
	case bool:
		return cbor.Bool(v)
	case time.Time:
		return &cbor.Tag{ID: 1, Value: cbor.Float64(float64(v.UnixMilli()) / 1000)}
	case []any:
		out := cbor.List{}
		for _, e := range v {
			out = append(out, toCBOR(e))
		}
		return out
	case map[string]any:
		out := cbor.Map{}
		for k, e := range v {
			out[k] = toCBOR(e)
		}
		return out
	}
	return &cbor.Nil{}
}

func toJSON(v any) any {
	switch v := v.(type) {
	case time.Time:
		return epoch(v)
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = toJSON(e)
		}
		return out
	case map[string]any:
		out := map[string]any{}
		for k, e := range v {
			out[k] = toJSON(e)
		}
		return out
	}
	return v
}

func (in cwInput) str(key string) string {
	s, _ := in[key].(string)
	return s
}

func (in cwInput) strings(key string) []string {
	l, _ := in[key].([]any)
	var out []string
	for _, v := range l {
		if s, ok := v.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func (in cwInput) number(key string) (float64, bool) {
	f, ok := in[key].(float64)
	return f, ok
}

func (a *alarm) fields() map[string]any {
	if a.rule != nil {
		return map[string]any{
			"AlarmName":                          a.name,
			"AlarmArn":                           a.arn,
			"AlarmRule":                          a.ruleSrc,
			"StateValue":                         a.state,
			"StateReason":                        a.reason,
			"StateUpdatedTimestamp":              a.updated,
			"StateTransitionedTimestamp":         a.updated,
			"AlarmConfigurationUpdatedTimestamp": a.configured,
			"ActionsEnabled":                     true,
		}
	}
	return map[string]any{
		"AlarmName":                          a.name,
		"AlarmArn":                           a.arn,
		"StateValue":                         a.state,
		"StateReason":                        a.reason,
		"StateUpdatedTimestamp":              a.updated,
		"AlarmConfigurationUpdatedTimestamp": a.configured,
		"MetricName":                         a.metric,
		"Namespace":                          a.namespace,
		"Statistic":                          a.statistic,
		"ComparisonOperator":                 a.comparison,
		"Threshold":                          a.threshold,
		"EvaluationPeriods":                  a.periods,
		"Period":                             a.period,
		"ActionsEnabled":                     true,
	}
}

// cwValidation is a CloudWatch request validation error, in AWS's words.
func cwValidation(format string, args ...any) error {
	return awsproto.Errorf("ValidationError", "1 validation error detected: "+format, args...)
}

// cwDescribeAlarms lists alarms by name, prefix and state, or the children
// or parents of a composite alarm, sorted by name and paged with MaxRecords
// (1 to 100, default 50) and NextToken. Only metric alarms are listed unless
// AlarmTypes asks for composite ones.
func (s *Server) cwDescribeAlarms(in cwInput) (map[string]any, error) {
	size := 50
	if v, ok := in.number("MaxRecords"); ok {
		if v < 1 || v > 100 {
			op := "greater than or equal to 1"
			if v > 100 {
				op = "less than or equal to 100"
			}
			return nil, cwValidation("Value '%v' at 'maxRecords' failed to satisfy constraint: Member must have value %s", v, op)
		}
		size = int(v)
	}
	if s.pageLimit > 0 {
		size = min(size, s.pageLimit)
	}
	matched, brief, err := s.matchAlarms(in)
	if err != nil {
		return nil, err
	}
	start := 0
	if tok := in.str("NextToken"); tok != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(tok, "alarms-"))
		if err != nil || !strings.HasPrefix(tok, "alarms-") || n < 0 || n > len(matched) {
			return nil, awsproto.Errorf("InvalidNextToken", "The service cannot process the given NextToken %q", tok)
		}
		start = n
	}
	end := min(start+size, len(matched))
	metrics, composites := []any{}, []any{}
	for _, a := range matched[start:end] {
		f := a.fields()
		if brief {
			f = map[string]any{"AlarmName": a.name, "AlarmArn": a.arn, "StateValue": a.state, "StateUpdatedTimestamp": a.updated}
		}
		if a.rule != nil {
			composites = append(composites, f)
		} else {
			metrics = append(metrics, f)
		}
	}
	out := map[string]any{"MetricAlarms": metrics, "CompositeAlarms": composites}
	if end < len(matched) {
		out["NextToken"] = "alarms-" + strconv.Itoa(end)
	}
	return out, nil
}

// matchAlarms returns the alarms a DescribeAlarms request names, sorted by
// name, and whether only their names, ARNs and states are shown (for
// ChildrenOfAlarmName and ParentsOfAlarmName, which take no other filter).
func (s *Server) matchAlarms(in cwInput) ([]*alarm, bool, error) {
	var keys []string
	for name := range s.alarms {
		keys = append(keys, name)
	}
	sort.Strings(keys)
	var matched []*alarm
	children, parents := in.str("ChildrenOfAlarmName"), in.str("ParentsOfAlarmName")
	if children != "" || parents != "" {
		for k := range in {
			if k != "MaxRecords" && k != "NextToken" && (k != "ChildrenOfAlarmName" || parents != "") && (k != "ParentsOfAlarmName" || children != "") {
				return nil, false, awsproto.Errorf("ValidationError", "ChildrenOfAlarmName and ParentsOfAlarmName cannot be used with any parameter but MaxRecords and NextToken")
			}
		}
		var refs []string
		if p := s.alarms[children]; p != nil && p.rule != nil {
			refs = p.rule.refs(nil)
		}
		for _, name := range keys {
			a := s.alarms[name]
			switch {
			case children != "" && (slices.Contains(refs, a.name) || slices.Contains(refs, a.arn)):
				matched = append(matched, a)
			case parents != "" && a.rule != nil:
				if prefs := a.rule.refs(nil); slices.Contains(prefs, parents) || (s.alarms[parents] != nil && slices.Contains(prefs, s.alarms[parents].arn)) {
					matched = append(matched, a)
				}
			}
		}
		return matched, true, nil
	}
	names := in.strings("AlarmNames")
	prefix, state := in.str("AlarmNamePrefix"), in.str("StateValue")
	if len(names) > 100 {
		return nil, false, cwValidation("Value '[%s]' at 'alarmNames' failed to satisfy constraint: Member must have length less than or equal to 100", strings.Join(names, ", "))
	}
	if len(names) > 0 && prefix != "" {
		return nil, false, awsproto.Errorf("InvalidParameterCombination", "AlarmNames and AlarmNamePrefix cannot be used together")
	}
	if state != "" && !alarmStates[state] {
		return nil, false, cwValidation("Value '%s' at 'stateValue' failed to satisfy constraint: Member must satisfy enum value set: [INSUFFICIENT_DATA, ALARM, OK]", state)
	}
	wantMetric, wantComposite := true, false
	if types := in.strings("AlarmTypes"); len(types) > 0 {
		wantMetric, wantComposite = false, false
		for _, t := range types {
			switch t {
			case "MetricAlarm":
				wantMetric = true
			case "CompositeAlarm":
				wantComposite = true
			default:
				return nil, false, cwValidation("Value '[%s]' at 'alarmTypes' failed to satisfy constraint: Member must satisfy constraint: [Member must satisfy enum value set: [CompositeAlarm, MetricAlarm]]", strings.Join(types, ", "))
			}
		}
	}
	for _, name := range keys {
		a := s.alarms[name]
		if (len(names) > 0 && !slices.Contains(names, name)) || !strings.HasPrefix(name, prefix) ||
			(state != "" && a.state != state) || (a.rule == nil && !wantMetric) || (a.rule != nil && !wantComposite) {
			continue
		}
		matched = append(matched, a)
	}
	return matched, false, nil
}

// cwSetAlarmState sets the state of a metric or composite alarm. An alarm
// that does not exist is ResourceNotFound (HTTP 404), with no message, as AWS
// answers.
func (s *Server) cwSetAlarmState(in cwInput) (map[string]any, error) {
	for _, k := range []string{"AlarmName", "StateValue", "StateReason"} {
		if _, ok := in[k]; !ok {
			return nil, cwValidation("Value null at '%s' failed to satisfy constraint: Member must not be null", lowerFirst(k))
		}
	}
	name, state := in.str("AlarmName"), in.str("StateValue")
	a, ok := s.alarms[name]
	if !ok {
		return nil, &awsproto.Error{Code: "ResourceNotFound", Status: http.StatusNotFound}
	}
	if !alarmStates[state] {
		return nil, cwValidation("Value '%s' at 'stateValue' failed to satisfy constraint: Member must satisfy enum value set: [INSUFFICIENT_DATA, ALARM, OK]", state)
	}
	s.setAlarmState(a, state, in.str("StateReason"))
	return map[string]any{}, nil
}

func (s *Server) cwPutMetricAlarm(in cwInput) (map[string]any, error) {
	name := in.str("AlarmName")
	if name == "" {
		return nil, awsproto.Errorf("ValidationError", "AlarmName is required")
	}
	a := s.alarms[name]
	if a == nil {
		a = s.newAlarm(name)
	}
	for key, field := range map[string]*string{"MetricName": &a.metric, "Namespace": &a.namespace, "Statistic": &a.statistic, "ComparisonOperator": &a.comparison} {
		if v := in.str(key); v != "" {
			*field = v
		}
	}
	if v, ok := in.number("Threshold"); ok {
		a.threshold = v
	}
	if v, ok := in.number("EvaluationPeriods"); ok {
		a.periods = int64(v)
	}
	if v, ok := in.number("Period"); ok {
		a.period = int64(v)
	}
	a.configured = s.now
	return map[string]any{}, nil
}

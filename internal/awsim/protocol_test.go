package awsim_test

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"ecs-deploy/internal/awsim"
)

// TestMalformedRequests sends what no SDK would: each gets the AWS error
// for it, never a panic or a hang.
func TestMalformedRequests(t *testing.T) {
	b := newBed(t, awsim.Config{})
	b.seed(t, awsim.Scenario{Name: "raw"})
	form := func(v url.Values) (string, map[string]string, string) {
		return v.Encode(), map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, "/"
	}
	ecsCall := func(op, body string) (string, map[string]string, string) {
		return body, map[string]string{"X-Amz-Target": "AmazonEC2ContainerServiceV20141113." + op, "Content-Type": "application/x-amz-json-1.1"}, "/"
	}
	cases := []struct {
		name       string
		req        func() (string, map[string]string, string)
		wantStatus int
		wantCode   string
	}{
		{"unknown ECS operation", func() (string, map[string]string, string) { return ecsCall("LaunchRocket", "{}") }, 400, "UnknownOperationException"},
		{"ECS body not JSON", func() (string, map[string]string, string) { return ecsCall("DescribeClusters", "{not json") }, 400, "SerializationException"},
		{"ECS field of the wrong type", func() (string, map[string]string, string) {
			return ecsCall("DescribeServices", `{"services": "raw"}`)
		}, 400, "SerializationException"},
		{"unknown JSON service", func() (string, map[string]string, string) {
			return "{}", map[string]string{"X-Amz-Target": "DynamoDB_20120810.ListTables"}, "/"
		}, 400, "UnknownOperationException"},
		{"unknown ELB action", func() (string, map[string]string, string) {
			return form(url.Values{"Action": {"LaunchRocket"}, "Version": {"2015-12-01"}})
		}, 400, "InvalidAction"},
		{"ELB list index not a number", func() (string, map[string]string, string) {
			return form(url.Values{"Action": {"DescribeRules"}, "Version": {"2015-12-01"}, "RuleArns.member.x": {"a"}})
		}, 400, "ValidationError"},
		{"ELB value and list under one name", func() (string, map[string]string, string) {
			return form(url.Values{"Action": {"DescribeRules"}, "Version": {"2015-12-01"}, "RuleArns": {"a"}, "RuleArns.member.1": {"b"}})
		}, 400, "ValidationError"},
		{"ELB missing required", func() (string, map[string]string, string) {
			return form(url.Values{"Action": {"CreateRule"}, "Version": {"2015-12-01"}})
		}, 400, "ValidationError"},
		{"ELB priority not a number", func() (string, map[string]string, string) {
			return form(url.Values{"Action": {"SetRulePriorities"}, "Version": {"2015-12-01"},
				"RulePriorities.member.1.RuleArn": {"x"}, "RulePriorities.member.1.Priority": {"high"}})
		}, 400, "RuleNotFound"},
		{"CloudWatch query: unknown alarm", func() (string, map[string]string, string) {
			return form(url.Values{"Action": {"SetAlarmState"}, "Version": {"2010-08-01"}, "AlarmName": {"none"}, "StateValue": {"OK"}, "StateReason": {"x"}})
		}, 404, "<Code>ResourceNotFound</Code>"},
		{"CloudWatch query: SetAlarmState without a reason", func() (string, map[string]string, string) {
			return form(url.Values{"Action": {"SetAlarmState"}, "Version": {"2010-08-01"}, "AlarmName": {"raw-target-5xx"}, "StateValue": {"OK"}})
		}, 400, "Value null at &#39;stateReason&#39; failed to satisfy constraint: Member must not be null"},
		{"no operation at all", func() (string, map[string]string, string) { return "hello", nil, "/" }, 400, "MissingAction"},
		{"CBOR garbage", func() (string, map[string]string, string) {
			return "\xff\x00", map[string]string{"Smithy-Protocol": "rpc-v2-cbor"}, "/service/GraniteServiceVersion20100801/operation/DescribeAlarms"
		}, 400, "SerializationException"},
		{"CBOR unknown operation", func() (string, map[string]string, string) {
			return "", map[string]string{"Smithy-Protocol": "rpc-v2-cbor"}, "/service/GraniteServiceVersion20100801/operation/DeleteEverything"
		}, 400, "UnknownOperationException"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			body, headers, path := c.req()
			req, _ := http.NewRequestWithContext(b.ctx, http.MethodPost, b.url+path, strings.NewReader(body))
			for k, v := range headers {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != c.wantStatus || !bytes.Contains(raw, []byte(c.wantCode)) {
				t.Fatalf("status %d body %s; want %d with %s", resp.StatusCode, raw, c.wantStatus, c.wantCode)
			}
		})
	}
}

// TestCloudWatchQuery reads alarms in the query protocol older CLIs speak.
func TestCloudWatchQuery(t *testing.T) {
	b := newBed(t, awsim.Config{})
	b.seed(t, awsim.Scenario{Name: "q", Alarms: []string{"q-5xx", "q-latency"}})
	resp, err := http.PostForm(b.url, url.Values{"Action": {"DescribeAlarms"}, "Version": {"2010-08-01"}, "AlarmNames.member.1": {"q-latency"}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Alarms []struct {
			Name  string `xml:"AlarmName"`
			State string `xml:"StateValue"`
		} `xml:"DescribeAlarmsResult>MetricAlarms>member"`
	}
	if err := xml.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || len(out.Alarms) != 1 || out.Alarms[0].Name != "q-latency" || out.Alarms[0].State != "OK" {
		t.Fatalf("status %d alarms %+v", resp.StatusCode, out.Alarms)
	}
}

// TestControlHTTP drives the controls the binary offers over HTTP.
func TestControlHTTP(t *testing.T) {
	b := newBed(t, awsim.Config{})
	call := func(method, path, body string, out any) int {
		t.Helper()
		req, _ := http.NewRequestWithContext(b.ctx, method, b.url+path, strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if out != nil {
			if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
				t.Fatalf("%s %s: %v", method, path, err)
			}
		}
		return resp.StatusCode
	}
	var sd awsim.Seeded
	if code := call("POST", "/_awsim/seed", `{"name":"ctl","desired_count":1}`, &sd); code != 200 || sd.ServiceArn == "" {
		t.Fatalf("seed: %d %+v", code, sd)
	}
	if code := call("POST", "/_awsim/seed", `{"name":"ctl","colour":"red"}`, nil); code != 400 {
		t.Fatalf("seed with unknown field: %d", code)
	}
	var clock struct {
		Scale float64 `json:"scale"`
	}
	if code := call("POST", "/_awsim/clock", `{"scale": 50, "advance": "1m"}`, &clock); code != 200 || clock.Scale != 50 {
		t.Fatalf("clock: %d %+v", code, clock)
	}
	if code := call("POST", "/_awsim/faults", `{"operation":"DescribeServices","latency":"10ms","times":1,"throttle_rate":0.5}`, nil); code != 200 {
		t.Fatalf("faults: %d", code)
	}
	if got := b.sim.Faults().Rules(); len(got) != 1 || got[0].Latency.Milliseconds() != 10 {
		t.Fatalf("rules: %+v", got)
	}
	call("DELETE", "/_awsim/faults", "", nil)
	if code := call("POST", "/_awsim/task-set-faults", `{"kind":"tasks-exit"}`, nil); code != 200 {
		t.Fatalf("task-set-faults: %d", code)
	}
	if code := call("POST", "/_awsim/task-set-faults", `{"kind":"bogus"}`, nil); code != 400 {
		t.Fatalf("bad task-set fault: %d", code)
	}
	if code := call("POST", "/_awsim/alarms", `{"name":"ctl-target-5xx","state":"ALARM","reason":"test"}`, nil); code != 200 {
		t.Fatalf("alarms: %d", code)
	}
	if code := call("POST", "/_awsim/target-health", `{"target_group_arn":"`+sd.TargetGroupArns["blue"]+`","healthy":false}`, nil); code != 200 {
		t.Fatalf("target-health: %d", code)
	}
	var outages []awsim.Outage
	if call("GET", "/_awsim/downtime", "", &outages); len(outages) != 1 {
		t.Fatalf("downtime: %+v", outages)
	}
	var calls struct {
		Total int `json:"total"`
	}
	if call("GET", "/_awsim/calls", "", &calls); calls.Total != 0 {
		t.Fatalf("controls were logged as API calls: %d", calls.Total)
	}
}

// FuzzServeAPI feeds arbitrary bodies under each protocol's headers: the
// emulator must answer every one with a well-formed status and not panic.
func FuzzServeAPI(f *testing.F) {
	f.Add(0, "DescribeTaskSets", []byte(`{"cluster":"fz","service":"fz"}`))
	f.Add(0, "CreateTaskSet", []byte(`{"cluster":"fz","service":"fz","taskDefinition":"fz:1","scale":{"value":-1}}`))
	f.Add(1, "SetRulePriorities", []byte("RulePriorities.member.1.RuleArn=x&RulePriorities.member.1.Priority=1"))
	f.Add(1, "CreateRule", []byte("Conditions.member.1.Values.member.1=%2F&Actions.member.2.Type=forward"))
	f.Add(2, "DescribeAlarms", []byte{0xa1, 0x6a, 'A', 'l', 'a', 'r', 'm', 'N', 'a', 'm', 'e', 's', 0x80})
	f.Fuzz(func(t *testing.T, proto int, op string, body []byte) {
		// A fresh emulator each time, so inputs do not pile up state.
		sim, err := awsim.New(awsim.Config{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sim.Seed(awsim.Scenario{Name: "fz"}); err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		switch proto % 3 {
		case 0:
			req.Header.Set("X-Amz-Target", "AmazonEC2ContainerServiceV20141113."+op)
		case 1:
			req = httptest.NewRequest(http.MethodPost, "/", strings.NewReader("Action="+url.QueryEscape(op)+"&Version=2015-12-01&"+string(body)))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		case 2:
			req.URL.Path = "/service/GraniteServiceVersion20100801/operation/" + url.PathEscape(op)
			req.Header.Set("Smithy-Protocol", "rpc-v2-cbor")
		}
		rec := httptest.NewRecorder()
		slow := time.AfterFunc(3*time.Second, func() { panic("input took over 3s") })
		sim.ServeHTTP(rec, req)
		slow.Stop()
		if rec.Code < 200 || rec.Code >= 600 {
			t.Fatalf("status %d", rec.Code)
		}
		if rec.Code >= 400 && rec.Body.Len() == 0 {
			t.Fatalf("error %d with an empty body", rec.Code)
		}
	})
}

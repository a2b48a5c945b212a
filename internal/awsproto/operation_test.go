package awsproto

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestIdentify(t *testing.T) {
	cases := []struct {
		name    string
		path    string
		headers map[string]string
		body    string
		want    Op
	}{
		{"json", "/", map[string]string{"X-Amz-Target": "AmazonEC2ContainerServiceV20141113.CreateTaskSet"}, "{}",
			Op{ProtocolJSON, "AmazonEC2ContainerServiceV20141113", "CreateTaskSet"}},
		{"query", "/", map[string]string{"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}, "Action=SetRulePriorities&Version=2015-12-01",
			Op{ProtocolQuery, "2015-12-01", "SetRulePriorities"}},
		{"cbor", "/service/GraniteServiceVersion20100801/operation/DescribeAlarms", map[string]string{"Smithy-Protocol": "rpc-v2-cbor"}, "",
			Op{ProtocolCBOR, "GraniteServiceVersion20100801", "DescribeAlarms"}},
		{"none", "/", nil, "hello", Op{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", c.path, strings.NewReader(c.body))
			for k, v := range c.headers {
				r.Header.Set(k, v)
			}
			op, _, err := Identify(r)
			if err != nil || op != c.want {
				t.Fatalf("Identify = %+v, %v; want %+v", op, err, c.want)
			}
			// The body is still there for whoever serves the request.
			if b, _ := io.ReadAll(r.Body); string(b) != c.body {
				t.Fatalf("body after Identify = %q", b)
			}
		})
	}
}

func TestIdentifyRefusesOversizeBody(t *testing.T) {
	r := httptest.NewRequest("POST", "/", strings.NewReader(strings.Repeat("a", MaxBody+1)))
	if _, _, err := Identify(r); err == nil {
		t.Fatal("oversize body accepted")
	}
}

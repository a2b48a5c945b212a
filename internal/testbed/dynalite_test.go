package testbed_test

import (
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"ecs-deploy/internal/testbed"
)

// TestDynaliteSurvivesAbortedRequest: a client that gives up on a request
// half sent (a cancelled context, a killed daemon) leaves dynalite
// serving, as DynamoDB would; unguarded, dynalite 4.0.0 dies of it.
func TestDynaliteSurvivesAbortedRequest(t *testing.T) {
	endpoint := testbed.Dynalite(t)
	u, err := url.Parse(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		conn, err := net.Dial("tcp", u.Host)
		if err != nil {
			t.Fatal(err)
		}
		_, err = conn.Write([]byte("POST / HTTP/1.1\r\nHost: " + u.Host + "\r\nX-Amz-Target: DynamoDB_20120810.ListTables\r\n" +
			"Content-Type: application/x-amz-json-1.0\r\nContent-Length: 100\r\n\r\n{\"Lim"))
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
		conn.Close()
	}
	time.Sleep(300 * time.Millisecond)
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, endpoint, strings.NewReader("{}"))
	req.Header.Set("X-Amz-Target", "DynamoDB_20120810.ListTables")
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("dynalite is gone after clients aborted their requests: %v", err)
	}
	resp.Body.Close()
}

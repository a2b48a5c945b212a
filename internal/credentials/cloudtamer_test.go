package credentials_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"ecs-deploy/internal/credentials"
)

const password = "correct-horse-battery-staple"

// fakeCloudTamer implements the four CloudTamer endpoints.
type fakeCloudTamer struct {
	*httptest.Server
	now func() time.Time

	mu       sync.Mutex
	tokens   map[string]time.Time // token: expiry
	logins   int
	keys     int
	fail     map[string][]int // path: statuses to answer first
	bodies   []string         // bodies of /v3/temporary-credentials, failed tries included
	keyTTL   time.Duration
	tokenTTL time.Duration
}

func newFakeCloudTamer(t *testing.T, now func() time.Time) *fakeCloudTamer {
	f := &fakeCloudTamer{now: now, tokens: map[string]time.Time{}, fail: map[string][]int{}, keyTTL: 30 * time.Minute, tokenTTL: time.Hour}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v3/token", f.token)
	mux.HandleFunc("GET /v3/account", f.auth(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"status":200,"data":[{"id":1,"account_number":"111111111111","project_id":7},{"id":2,"account_number":"222222222222","project_id":8}]}`)
	}))
	mux.HandleFunc("GET /v3/project/{id}/cloud-access-role", f.auth(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("assumable") != "true" {
			http.Error(w, "want assumable=true", http.StatusBadRequest)
			return
		}
		roles := map[string]string{"7": `"ou_cloud_access_roles":[{"aws_iam_role_name":"ct-readonly"}],"project_cloud_access_roles":[{"aws_iam_role_name":"ct-deploy"}]`,
			"8": `"ou_cloud_access_roles":[{"aws_iam_role_name":"ct-other"}]`}[r.PathValue("id")]
		fmt.Fprintf(w, `{"status":200,"data":{%s}}`, roles)
	}))
	mux.HandleFunc("POST /v3/temporary-credentials", f.auth(func(w http.ResponseWriter, r *http.Request) {
		var in struct{ AccountNumber, IAMRoleName string }
		if err := json.NewDecoder(r.Body).Decode(&struct {
			A *string `json:"account_number"`
			R *string `json:"iam_role_name"`
		}{&in.AccountNumber, &in.IAMRoleName}); err != nil || in.AccountNumber == "" || in.IAMRoleName == "" {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		f.keys++
		fmt.Fprintf(w, `{"status":200,"data":{"access_key":"ASIA%s","secret_access_key":"secret-%d","session_token":"session-%d","role":%q,"expiration":%q}}`,
			in.AccountNumber, f.keys, f.keys, in.IAMRoleName, f.now().Add(f.keyTTL).Format(time.RFC3339))
	}))
	f.Server = httptest.NewServer(f.record(mux))
	t.Cleanup(f.Close)
	return f
}

// record keeps the bodies and answers the failures queued for a path.
func (f *fakeCloudTamer) record(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		if r.URL.Path == "/v3/temporary-credentials" {
			f.bodies = append(f.bodies, string(body))
		}
		if q := f.fail[r.URL.Path]; len(q) > 0 {
			f.fail[r.URL.Path] = q[1:]
			w.WriteHeader(q[0])
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (f *fakeCloudTamer) token(w http.ResponseWriter, r *http.Request) {
	f.logins++
	var in struct {
		Username, Password string
		IDMS               int
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.Username != "svc-deploy" || in.IDMS != 3 {
		http.Error(w, `{"status":400}`, http.StatusBadRequest)
		return
	}
	if in.Password != password {
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"status":401,"message":"Invalid username or password."}`)
		return
	}
	tok := fmt.Sprintf("bearer-token-%d", f.logins)
	f.tokens[tok] = f.now().Add(f.tokenTTL)
	fmt.Fprintf(w, `{"status":201,"data":{"user_id":5,"access":{"token":%q,"expiry":%q},"refresh":{"token":"r","expiry":%q}}}`,
		tok, f.tokens[tok].Format(time.RFC3339), f.now().Add(24*time.Hour).Format(time.RFC3339))
}

func (f *fakeCloudTamer) auth(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if exp, ok := f.tokens[tok]; !ok || !f.now().Before(exp) {
			http.Error(w, `{"status":401}`, http.StatusUnauthorized)
			return
		}
		h(w, r)
	}
}

func (f *fakeCloudTamer) counts() (logins, keys int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.logins, f.keys
}

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestCloudTamerCredentials(t *testing.T) {
	setup := func(t *testing.T, pw string) (*credentials.CloudTamer, *fakeCloudTamer, *clock, *[]time.Duration) {
		clk := &clock{t: time.Now().UTC().Truncate(time.Second)}
		fake := newFakeCloudTamer(t, clk.Now)
		var waits []time.Duration
		ct, err := credentials.NewCloudTamer(credentials.CloudTamerConfig{BaseURL: fake.URL, Username: "svc-deploy", Password: pw, IDMSID: 3,
			Roles: []string{"ct-deploy", "ct-readonly"}, Now: clk.Now,
			Sleep: func(_ context.Context, d time.Duration) error { waits = append(waits, d); return nil }})
		if err != nil {
			t.Fatal(err)
		}
		return ct, fake, clk, &waits
	}
	var logs bytes.Buffer
	ctx := zerolog.New(&logs).Level(zerolog.DebugLevel).WithContext(context.Background())
	noSecrets := func(t *testing.T, s string) {
		t.Helper()
		for _, secret := range []string{password, "bearer-token-", "secret-1", "session-1"} {
			if strings.Contains(s, secret) {
				t.Errorf("%q leaked: %s", secret, s)
			}
		}
	}

	t.Run("happy path, then cached", func(t *testing.T) {
		ct, fake, _, _ := setup(t, password)
		for range 2 {
			cr, err := ct.Provider("111111111111").Retrieve(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if cr.AccessKeyID != "ASIA111111111111" || cr.SecretAccessKey != "secret-1" || cr.SessionToken != "session-1" || !cr.CanExpire {
				t.Fatalf("credentials %+v", cr)
			}
		}
		if logins, keys := fake.counts(); logins != 1 || keys != 1 {
			t.Fatalf("%d logins and %d key requests; want 1 and 1", logins, keys)
		}
		// The preferred role wins over the order CloudTamer lists them in.
		if len(fake.bodies) != 1 || fake.bodies[0] != `{"account_number":"111111111111","iam_role_name":"ct-deploy"}` {
			t.Fatalf("temporary-credentials bodies %q", fake.bodies)
		}
		noSecrets(t, logs.String())
	})

	t.Run("through Accounts: commands get the account's keys", func(t *testing.T) {
		ct, _, _, _ := setup(t, password)
		a, err := credentials.New(credentials.Config{Mode: credentials.ModeCloudTamer, CloudTamer: ct})
		if err != nil {
			t.Fatal(err)
		}
		env, err := a.CommandEnv(ctx, "111111111111", "us-west-2")
		want := []string{"AWS_ACCESS_KEY_ID=ASIA111111111111", "AWS_SECRET_ACCESS_KEY=secret-1", "AWS_SESSION_TOKEN=session-1", "AWS_REGION=us-west-2"}
		if err != nil || !slices.Equal(env, want) {
			t.Fatalf("env %q, %v; want %q", env, err, want)
		}
	})

	t.Run("unknown account", func(t *testing.T) {
		ct, _, _, _ := setup(t, password)
		_, err := ct.Credentials(ctx, "333333333333")
		if err == nil || !strings.Contains(err.Error(), "CloudTamer knows no account 333333333333") {
			t.Fatalf("err = %v", err)
		}
	})

	t.Run("no preferred role", func(t *testing.T) {
		ct, _, _, _ := setup(t, password)
		_, err := ct.Credentials(ctx, "222222222222")
		if err == nil || !strings.Contains(err.Error(), `project 8 offers none of the roles ["ct-deploy" "ct-readonly"] (it offers ["ct-other"])`) {
			t.Fatalf("err = %v", err)
		}
	})

	t.Run("wrong password: a clear error, no retry loop", func(t *testing.T) {
		ct, fake, _, waits := setup(t, "wrong-password-1234")
		for range 3 {
			_, err := ct.Credentials(ctx, "111111111111")
			if !errors.Is(err, credentials.ErrCloudTamerLogin) || !strings.Contains(err.Error(), "check CLOUDTAMER_USERNAME, CLOUDTAMER_PASSWORD") {
				t.Fatalf("err = %v; want ErrCloudTamerLogin", err)
			}
			if strings.Contains(err.Error(), "wrong-password-1234") {
				t.Fatalf("the password is in the error: %v", err)
			}
		}
		if logins, _ := fake.counts(); logins != 1 || len(*waits) != 0 {
			t.Fatalf("%d logins, waits %v; want one login and no retry", logins, *waits)
		}
	})

	t.Run("5xx then success, the body rebuilt for each try", func(t *testing.T) {
		ct, fake, _, waits := setup(t, password)
		fake.fail["/v3/temporary-credentials"] = []int{503, 502}
		fake.fail["/v3/account"] = []int{500}
		cr, err := ct.Credentials(ctx, "111111111111")
		if err != nil || cr.AccessKeyID != "ASIA111111111111" {
			t.Fatalf("credentials %+v, %v", cr, err)
		}
		want := `{"account_number":"111111111111","iam_role_name":"ct-deploy"}`
		if len(fake.bodies) != 3 || fake.bodies[0] != want || fake.bodies[1] != want || fake.bodies[2] != want {
			t.Fatalf("bodies of the three tries: %q", fake.bodies)
		}
		if fmt.Sprint(*waits) != "[500ms 500ms 1s]" {
			t.Fatalf("waits %v", *waits)
		}
	})

	t.Run("5xx every time gives up", func(t *testing.T) {
		ct, fake, _, waits := setup(t, password)
		fake.fail["/v3/account"] = []int{500, 500, 500, 500, 500}
		_, err := ct.Credentials(ctx, "111111111111")
		if err == nil || !strings.Contains(err.Error(), "gave up after 4 attempts") || len(*waits) != 3 {
			t.Fatalf("err = %v after waits %v", err, *waits)
		}
	})

	t.Run("token and keys expire", func(t *testing.T) {
		ct, fake, clk, _ := setup(t, password)
		get := func() string {
			t.Helper()
			cr, err := ct.Credentials(ctx, "111111111111")
			if err != nil {
				t.Fatal(err)
			}
			return cr.SecretAccessKey
		}
		get()
		clk.Advance(20 * time.Minute) // keys last 30m, renewed 5m early
		if s := get(); s != "secret-1" {
			t.Fatalf("after 20m: %s; want the cached keys", s)
		}
		clk.Advance(6 * time.Minute)
		if s := get(); s != "secret-2" {
			t.Fatalf("after 26m: %s; want new keys", s)
		}
		if logins, _ := fake.counts(); logins != 1 {
			t.Fatalf("%d logins by 26m; the token lasts 1h", logins)
		}
		clk.Advance(30 * time.Minute) // 56m: the token is within 5m of its end
		if s := get(); s != "secret-3" {
			t.Fatalf("after 56m: %s", s)
		}
		if logins, keys := fake.counts(); logins != 2 || keys != 3 {
			t.Fatalf("%d logins and %d keys; want a new login for the third keys", logins, keys)
		}
	})

	t.Run("a token revoked early: log in again once", func(t *testing.T) {
		ct, fake, _, _ := setup(t, password)
		ct.Credentials(ctx, "111111111111")
		fake.mu.Lock()
		clear(fake.tokens)
		fake.mu.Unlock()
		if _, err := ct.Credentials(ctx, "222222222222"); err == nil || !strings.Contains(err.Error(), "offers none") {
			t.Fatalf("err = %v; want it to get as far as the roles", err)
		}
		if logins, _ := fake.counts(); logins != 2 {
			t.Fatalf("%d logins, want 2", logins)
		}
	})
}

func TestCloudTamerFromEnv(t *testing.T) {
	env := map[string]string{"CLOUDTAMER_BASE_URL": "https://ct.example/api", "CLOUDTAMER_USERNAME": "svc", "CLOUDTAMER_PASSWORD": "pw-1234",
		"CLOUDTAMER_IDMS_ID": "3", "CLOUDTAMER_ADMIN_GROUP_ID": "12"}
	c, err := credentials.CloudTamerFromEnv(func(k string) string { return env[k] }, []string{"ct-deploy"})
	if err != nil || c.BaseURL != "https://ct.example/api" || c.Username != "svc" || c.Password != "pw-1234" || c.IDMSID != 3 || c.AdminGroupID != 12 {
		t.Fatalf("%+v, %v", c, err)
	}
	env["CLOUDTAMER_IDMS_ID"] = "three"
	if _, err := credentials.CloudTamerFromEnv(func(k string) string { return env[k] }, nil); err == nil || !strings.Contains(err.Error(), "CLOUDTAMER_IDMS_ID") {
		t.Fatalf("err = %v", err)
	}
	_, err = credentials.NewCloudTamer(credentials.CloudTamerConfig{Password: "pw-1234"})
	for _, want := range []string{"BaseURL", "Username", "IDMSID", "Roles"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("NewCloudTamer of an empty config: %v; want it to name %s", err, want)
		}
	}
	if err != nil && strings.Contains(err.Error(), "pw-1234") {
		t.Errorf("the password is in the error: %v", err)
	}
}

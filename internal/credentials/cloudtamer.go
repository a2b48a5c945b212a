package credentials

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/rs/zerolog"

	"ecs-deploy/pipeline"
)

// CloudTamerConfig sets up CloudTamer (Kion) credentials.
type CloudTamerConfig struct {
	// BaseURL is the API's base, as in CLOUDTAMER_BASE_URL; paths such as
	// /v3/token are appended to it. Required.
	BaseURL string
	// Username, Password and IDMSID log the service account in
	// (CLOUDTAMER_USERNAME, CLOUDTAMER_PASSWORD, CLOUDTAMER_IDMS_ID). Required.
	Username string
	Password string
	IDMSID   int
	// AdminGroupID is CLOUDTAMER_ADMIN_GROUP_ID, kept for parity with the
	// original; obtaining credentials does not use it.
	AdminGroupID int
	// Roles are the IAM roles to ask for, preferred first: the first one the
	// account's project lets us assume is used. Required.
	Roles []string
	// HTTPClient makes the calls. Default: a client with a 30s timeout.
	HTTPClient *http.Client
	// Now is the clock for expiries. Default time.Now.
	Now func() time.Time
	// Sleep waits between retries. Default: a timer.
	Sleep func(ctx context.Context, d time.Duration) error
	// MaxAttempts bounds the tries of one call (5xx, connection errors).
	// Default 4.
	MaxAttempts int
	// Backoff is the first wait between tries; it doubles. Default 500ms.
	Backoff time.Duration
	// TokenTTL is how long a token lasts when the answer gives no expiry.
	// Default 1h (what the original assumed).
	TokenTTL time.Duration
	// CredentialsTTL is how long temporary keys last when the answer gives
	// no expiry. Default 1h.
	CredentialsTTL time.Duration
	// ExpiryWindow renews a token or keys this long before they expire.
	// Default 5m.
	ExpiryWindow time.Duration
	// RefusedLoginPause is how long a refused login is answered from memory
	// before the password is tried again. Default 5m.
	RefusedLoginPause time.Duration
}

func (c *CloudTamerConfig) setDefaults() {
	c.BaseURL = strings.TrimSuffix(c.BaseURL, "/")
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Sleep == nil {
		c.Sleep = pipeline.RealClock{}.Sleep
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = 4
	}
	if c.Backoff == 0 {
		c.Backoff = 500 * time.Millisecond
	}
	if c.TokenTTL == 0 {
		c.TokenTTL = time.Hour
	}
	if c.CredentialsTTL == 0 {
		c.CredentialsTTL = time.Hour
	}
	if c.ExpiryWindow == 0 {
		c.ExpiryWindow = 5 * time.Minute
	}
	if c.RefusedLoginPause == 0 {
		c.RefusedLoginPause = 5 * time.Minute
	}
}

// Validate reports every missing field. It names no secret.
func (c CloudTamerConfig) Validate() error {
	var errs []error
	if u, err := url.Parse(c.BaseURL); c.BaseURL == "" || err != nil || u.Host == "" {
		errs = append(errs, errors.New("credentials.CloudTamerConfig.BaseURL (CLOUDTAMER_BASE_URL) is not a URL"))
	}
	if c.Username == "" {
		errs = append(errs, errors.New("credentials.CloudTamerConfig.Username (CLOUDTAMER_USERNAME) is empty"))
	}
	if c.Password == "" {
		errs = append(errs, errors.New("credentials.CloudTamerConfig.Password (CLOUDTAMER_PASSWORD) is empty"))
	}
	if c.IDMSID <= 0 {
		errs = append(errs, errors.New("credentials.CloudTamerConfig.IDMSID (CLOUDTAMER_IDMS_ID) is not set"))
	}
	if len(c.Roles) == 0 {
		errs = append(errs, errors.New("credentials.CloudTamerConfig.Roles is empty: name the IAM roles to ask for, preferred first"))
	}
	return errors.Join(errs...)
}

// CloudTamerFromEnv reads CLOUDTAMER_BASE_URL, CLOUDTAMER_USERNAME,
// CLOUDTAMER_PASSWORD, CLOUDTAMER_IDMS_ID and CLOUDTAMER_ADMIN_GROUP_ID.
func CloudTamerFromEnv(getenv func(string) string, roles []string) (CloudTamerConfig, error) {
	c := CloudTamerConfig{BaseURL: getenv("CLOUDTAMER_BASE_URL"), Username: getenv("CLOUDTAMER_USERNAME"),
		Password: getenv("CLOUDTAMER_PASSWORD"), Roles: roles}
	var errs []error
	for name, dst := range map[string]*int{"CLOUDTAMER_IDMS_ID": &c.IDMSID, "CLOUDTAMER_ADMIN_GROUP_ID": &c.AdminGroupID} {
		if v := getenv(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s is %q, not a number", name, v))
			}
			*dst = n
		}
	}
	return c, errors.Join(errs...)
}

// ErrCloudTamerLogin is returned when CloudTamer refuses the service
// account's login: a wrong username, password or IDMS, which no retry fixes.
var ErrCloudTamerLogin = errors.New("CloudTamer refused the login")

// CloudTamer obtains temporary AWS credentials from CloudTamer:
//
//  1. POST /v3/token {"username","password","idms"} gives a bearer token
//     (data.access.token, expiring at data.access.expiry);
//  2. GET /v3/account maps the account number to its project_id;
//  3. GET /v3/project/{id}/cloud-access-role?assumable=true lists the roles
//     we may assume; the first of Roles among them is used;
//  4. POST /v3/temporary-credentials {"account_number","iam_role_name"}
//     gives the keys.
//
// The token and each account's keys are kept until ExpiryWindow before
// they expire. It is safe for concurrent use.
type CloudTamer struct {
	cfg CloudTamerConfig

	mu          sync.Mutex
	token       string
	tokenExpiry time.Time
	creds       map[string]aws.Credentials
	// refused holds a refused login's error until refusedUntil: the same
	// wrong password is not sent again and again, which could lock the
	// service account.
	refused      error
	refusedUntil time.Time
}

// NewCloudTamer returns a CloudTamer client.
func NewCloudTamer(cfg CloudTamerConfig) (*CloudTamer, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &CloudTamer{cfg: cfg, creds: map[string]aws.Credentials{}}, nil
}

// Provider is the account's credentials as an aws.CredentialsProvider.
func (c *CloudTamer) Provider(account string) aws.CredentialsProvider {
	return cloudTamerProvider{c: c, account: account}
}

type cloudTamerProvider struct {
	c       *CloudTamer
	account string
}

func (p cloudTamerProvider) Retrieve(ctx context.Context) (aws.Credentials, error) {
	return p.c.Credentials(ctx, p.account)
}

// Credentials returns temporary credentials for an account.
func (c *CloudTamer) Credentials(ctx context.Context, account string) (aws.Credentials, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.cfg.Now()
	if cr, ok := c.creds[account]; ok && now.Before(cr.Expires.Add(-c.cfg.ExpiryWindow)) {
		return cr, nil
	}
	cr, err := c.fetch(ctx, account)
	if err != nil {
		return aws.Credentials{}, fmt.Errorf("CloudTamer credentials for account %s: %w", account, c.redact(err))
	}
	c.creds[account] = cr
	return cr, nil
}

// fetch runs steps 2 to 4 for an account.
func (c *CloudTamer) fetch(ctx context.Context, account string) (aws.Credentials, error) {
	var accounts struct {
		Data []struct {
			AccountNumber string `json:"account_number"`
			ProjectID     int    `json:"project_id"`
		} `json:"data"`
	}
	if err := c.call(ctx, http.MethodGet, "/v3/account", nil, &accounts); err != nil {
		return aws.Credentials{}, fmt.Errorf("list accounts: %w", err)
	}
	project := 0
	for _, a := range accounts.Data {
		if a.AccountNumber == account {
			project = a.ProjectID
			break
		}
	}
	if project == 0 {
		return aws.Credentials{}, fmt.Errorf("CloudTamer knows no account %s (it lists %d accounts to this service account)", account, len(accounts.Data))
	}
	var roles struct {
		Data struct {
			Project []struct {
				Name string `json:"aws_iam_role_name"`
			} `json:"project_cloud_access_roles"`
			OU []struct {
				Name string `json:"aws_iam_role_name"`
			} `json:"ou_cloud_access_roles"`
		} `json:"data"`
	}
	if err := c.call(ctx, http.MethodGet, fmt.Sprintf("/v3/project/%d/cloud-access-role?assumable=true", project), nil, &roles); err != nil {
		return aws.Credentials{}, fmt.Errorf("list the roles of project %d: %w", project, err)
	}
	var offered []string
	for _, r := range roles.Data.Project {
		offered = append(offered, r.Name)
	}
	for _, r := range roles.Data.OU {
		offered = append(offered, r.Name)
	}
	role := ""
	for _, want := range c.cfg.Roles {
		if slices.Contains(offered, want) {
			role = want
			break
		}
	}
	if role == "" {
		return aws.Credentials{}, fmt.Errorf("project %d offers none of the roles %q (it offers %q)", project, c.cfg.Roles, offered)
	}
	body, err := json.Marshal(map[string]string{"account_number": account, "iam_role_name": role})
	if err != nil {
		return aws.Credentials{}, err
	}
	var keys struct {
		Data struct {
			AccessKey       string `json:"access_key"`
			SecretAccessKey string `json:"secret_access_key"`
			SessionToken    string `json:"session_token"`
			Expiration      string `json:"expiration"`
		} `json:"data"`
	}
	if err := c.call(ctx, http.MethodPost, "/v3/temporary-credentials", body, &keys); err != nil {
		return aws.Credentials{}, fmt.Errorf("temporary credentials for role %s: %w", role, err)
	}
	if keys.Data.AccessKey == "" || keys.Data.SecretAccessKey == "" {
		return aws.Credentials{}, fmt.Errorf("temporary credentials for role %s: the answer holds no keys", role)
	}
	expires := parseTime(keys.Data.Expiration, c.cfg.Now().Add(c.cfg.CredentialsTTL))
	zerolog.Ctx(ctx).Debug().Str("account", account).Str("role", role).Time("expires", expires).Msg("CloudTamer credentials obtained")
	return aws.Credentials{AccessKeyID: keys.Data.AccessKey, SecretAccessKey: keys.Data.SecretAccessKey,
		SessionToken: keys.Data.SessionToken, Source: "CloudTamer", CanExpire: true, Expires: expires, AccountID: account}, nil
}

// login gets a bearer token unless the one held is still good.
func (c *CloudTamer) login(ctx context.Context) (string, error) {
	now := c.cfg.Now()
	if c.token != "" && now.Before(c.tokenExpiry.Add(-c.cfg.ExpiryWindow)) {
		return c.token, nil
	}
	if c.refused != nil && now.Before(c.refusedUntil) {
		return "", c.refused
	}
	body, err := json.Marshal(map[string]any{"username": c.cfg.Username, "password": c.cfg.Password, "idms": c.cfg.IDMSID})
	if err != nil {
		return "", err
	}
	var out struct {
		Data struct {
			Access struct {
				Token  string `json:"token"`
				Expiry string `json:"expiry"`
			} `json:"access"`
		} `json:"data"`
	}
	status, err := c.send(ctx, http.MethodPost, "/v3/token", body, "", &out)
	if status == http.StatusUnauthorized || status == http.StatusForbidden || status == http.StatusBadRequest {
		c.refused = fmt.Errorf("%w as %s (IDMS %d): HTTP %d; check CLOUDTAMER_USERNAME, CLOUDTAMER_PASSWORD and CLOUDTAMER_IDMS_ID",
			ErrCloudTamerLogin, c.cfg.Username, c.cfg.IDMSID, status)
		c.refusedUntil = now.Add(c.cfg.RefusedLoginPause)
		return "", c.refused
	}
	if err != nil {
		return "", fmt.Errorf("log in to CloudTamer: %w", err)
	}
	if out.Data.Access.Token == "" {
		return "", errors.New("log in to CloudTamer: the answer holds no data.access.token")
	}
	c.token = out.Data.Access.Token
	c.tokenExpiry = parseTime(out.Data.Access.Expiry, c.cfg.Now().Add(c.cfg.TokenTTL))
	return c.token, nil
}

// call makes an authenticated call. A 401 means the token went stale
// early: it logs in again once.
func (c *CloudTamer) call(ctx context.Context, method, path string, body []byte, out any) error {
	for try := 0; ; try++ {
		token, err := c.login(ctx)
		if err != nil {
			return err
		}
		status, err := c.send(ctx, method, path, body, token, out)
		if status == http.StatusUnauthorized && try == 0 {
			c.token = ""
			continue
		}
		return err
	}
}

// send makes one call with retries on 5xx and connection errors, building
// the request body anew for each try, and decodes a 2xx answer into out.
// It returns the last HTTP status (0 when none came).
func (c *CloudTamer) send(ctx context.Context, method, path string, body []byte, token string, out any) (int, error) {
	for attempt := 1; ; attempt++ {
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(body)
		}
		req, err := http.NewRequestWithContext(ctx, method, c.cfg.BaseURL+path, rd)
		if err != nil {
			return 0, err
		}
		req.Header.Set("Accept", "application/json")
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		status, retry, err := c.once(req, out)
		if err == nil || !retry || attempt >= c.cfg.MaxAttempts || ctx.Err() != nil {
			if err != nil && retry && attempt >= c.cfg.MaxAttempts {
				err = fmt.Errorf("gave up after %d attempts: %w", attempt, err)
			}
			return status, err
		}
		if err := c.cfg.Sleep(ctx, c.cfg.Backoff<<(attempt-1)); err != nil {
			return status, err
		}
	}
}

func (c *CloudTamer) once(req *http.Request, out any) (status int, retry bool, err error) {
	resp, err := c.cfg.HTTPClient.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its URL is the base URL and path; the rest names the cause
		}
		return 0, true, fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		return resp.StatusCode, resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests,
			fmt.Errorf("%s %s: HTTP %d", req.Method, req.URL.Path, resp.StatusCode)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 10<<20)).Decode(out); err != nil {
		return resp.StatusCode, false, fmt.Errorf("%s %s: the answer is not the JSON expected: %v", req.Method, req.URL.Path, err)
	}
	return resp.StatusCode, false, nil
}

// redact masks the password and the token, should an error carry them.
func (c *CloudTamer) redact(err error) error {
	msg := err.Error()
	clean := msg
	for _, s := range []string{c.cfg.Password, c.token} {
		if len(s) >= 4 {
			clean = strings.ReplaceAll(clean, s, "[redacted]")
		}
	}
	if clean == msg {
		return err
	}
	return errors.New(clean)
}

// parseTime reads an expiry in the forms CloudTamer uses, or returns def.
func parseTime(s string, def time.Time) time.Time {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05-0700", "2006-01-02 15:04:05"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t
		}
	}
	return def
}

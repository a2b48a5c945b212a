package awsim

import (
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// cloud holds the emulators of several accounts, one Server each, sharing
// one clock, and the credentials that say whose a request is: the access
// key it is signed with picks the account, as on AWS.
type cloud struct {
	mu       sync.Mutex
	servers  map[string]*Server   // by account ID
	keys     map[string]principal // by access key ID
	fallback string               // the account of unknown keys
	first    *Server              // the emulator New made
}

// principal is who an access key belongs to.
type principal struct {
	account, arn, userID string
	// expires, when set, is when assumed-role credentials stop working.
	expires time.Time
}

var accountPattern = regexp.MustCompile(`^[0-9]{12}$`)

// Account returns the emulator of another account of the same emulated
// cloud, made empty on first use. It shares this one's clock and address:
// requests signed with an access key of that account (Config.AccessKeys,
// or credentials from AssumeRole) are served by it.
func (s *Server) Account(id string) (*Server, error) {
	if !accountPattern.MatchString(id) {
		return nil, fmt.Errorf("account ID %q is not 12 digits", id)
	}
	c := s.cloud
	c.mu.Lock()
	defer c.mu.Unlock()
	if other, ok := c.servers[id]; ok {
		return other, nil
	}
	cfg := s.cfg
	cfg.AccountID = id
	n, _ := strconv.ParseUint(id, 10, 64)
	cfg.Seed = c.first.cfg.Seed + n // IDs differ from account to account
	other := newServer(cfg, s.clock, c)
	// One address serves every account: one set of API faults applies.
	other.faults = c.first.faults
	c.servers[id] = other
	return other, nil
}

// caller finds who signed r: the access key of its Authorization header.
// A key the cloud does not know belongs to the default account.
func (c *cloud) caller(r *http.Request) (string, principal) {
	key := accessKey(r.Header.Get("Authorization"))
	c.mu.Lock()
	defer c.mu.Unlock()
	if p, ok := c.keys[key]; ok {
		return key, p
	}
	return key, principal{account: c.fallback, arn: "arn:aws:iam::" + c.fallback + ":user/emulated", userID: "AIDAEMULATED" + strings.ToUpper(key)}
}

// accessKey reads the access key ID of a SigV4 Authorization header:
// "AWS4-HMAC-SHA256 Credential=AKID/date/region/service/aws4_request, ...".
func accessKey(auth string) string {
	_, cred, ok := strings.Cut(auth, "Credential=")
	if !ok {
		return ""
	}
	key, _, _ := strings.Cut(cred, "/")
	return key
}

func (c *cloud) addKey(key string, p principal) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.keys[key] = p
}

func (c *cloud) knows(account string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.servers[account]
	return ok
}

package loadgen

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
	"github.com/homeplane/homeplane/protocol/gen/homeplane/v1/homeplanev1connect"
)

// Agent is one enrolled agent's identity, as Enroll returned it.
type Agent struct {
	Owner    string `json:"owner"`
	HomeID   string `json:"home_id"`
	AgentID  string `json:"agent_id"`
	Username string `json:"username"`
	Password string `json:"password"`
}

// Device is one registered voice device.
type Device struct {
	HomeID string `json:"home_id"`
	Token  string `json:"token"`
	// ID scopes the device's idempotency keys (state files of older runs
	// lack it).
	ID string `json:"id,omitempty"`
}

// user is an account the fleet's homes belong to; central caps the homes
// per account, so a fleet needs many.
type user struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// record is one line of the state file: exactly one field is set.
type record struct {
	User   *user   `json:"user,omitempty"`
	Agent  *Agent  `json:"agent,omitempty"`
	Device *Device `json:"device,omitempty"`
}

// State is what a fleet has created so far. It lives in an append-only file
// of JSON lines, one per user, agent or device, so an interrupted
// provisioning resumes where it stopped and later runs reuse the fleet.
type State struct {
	Users   []user
	Agents  []Agent
	Devices []Device

	path string
	mu   sync.Mutex
	f    *os.File
}

// OpenState reads the state file at path, creating it if needed.
func OpenState(path string) (*State, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open state: %w", err)
	}
	st := &State{path: path, f: f}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 64<<10)
	for sc.Scan() {
		var r record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			// A torn last line from an interrupted run is dropped.
			continue
		}
		st.apply(r)
	}
	if err := sc.Err(); err != nil {
		f.Close()
		return nil, fmt.Errorf("read state %s: %w", path, err)
	}
	return st, nil
}

// Close closes the state file.
func (st *State) Close() error { return st.f.Close() }

func (st *State) add(r record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	st.apply(r)
	_, err = st.f.Write(append(b, '\n'))
	return err
}

func (st *State) apply(r record) {
	switch {
	case r.User != nil:
		st.Users = append(st.Users, *r.User)
	case r.Agent != nil:
		st.Agents = append(st.Agents, *r.Agent)
	case r.Device != nil:
		st.Devices = append(st.Devices, *r.Device)
	}
}

// API is central's Connect API as the provisioning and the devices use it.
type API struct {
	auth   homeplanev1connect.AuthServiceClient
	homes  homeplanev1connect.HomeServiceClient
	agents homeplanev1connect.AgentServiceClient
	intent homeplanev1connect.IntentServiceClient
}

// NewAPI returns clients for the API at baseURL (http://host:port). Devices
// speak JSON, as voice firmware does.
func NewAPI(baseURL string, conns int) *API {
	hc := &http.Client{Transport: &http.Transport{
		MaxIdleConns: conns, MaxIdleConnsPerHost: conns, IdleConnTimeout: time.Minute,
	}}
	return &API{
		auth:   homeplanev1connect.NewAuthServiceClient(hc, baseURL),
		homes:  homeplanev1connect.NewHomeServiceClient(hc, baseURL),
		agents: homeplanev1connect.NewAgentServiceClient(hc, baseURL),
		intent: homeplanev1connect.NewIntentServiceClient(hc, baseURL, connect.WithProtoJSON()),
	}
}

func bearer[T any](token string, msg *T) *connect.Request[T] {
	r := connect.NewRequest(msg)
	r.Header().Set("Authorization", "Bearer "+token)
	return r
}

// homesPerUser stays under central's default cap of 50 per account.
const homesPerUser = 50

// Provision brings the state up to agents enrolled agents and devices
// registered devices, creating users, homes and enrollments through the
// API with conc requests in flight. progress, if set, is called after each
// agent or device.
func Provision(ctx context.Context, api *API, st *State, agents, devices, conc int, progress func(agents, devices int)) error {
	if conc <= 0 {
		conc = 16
	}
	tokens := &tokenCache{api: api, tokens: map[string]string{}}
	owned := map[string]int{}
	for _, a := range st.Agents {
		owned[a.Owner]++
	}

	// Accounts first, in parallel: registration hashes a password.
	missing := agents - len(st.Agents)
	var slots []string // one owner email per agent still to create
	for _, u := range st.Users {
		for ; owned[u.Email] < homesPerUser && len(slots) < missing; owned[u.Email]++ {
			slots = append(slots, u.Email)
		}
	}
	var newUsers []user
	for len(slots) < missing {
		u := user{Email: "load-" + randHex(6) + "@example.com", Password: randHex(12)}
		newUsers = append(newUsers, u)
		for i := 0; i < homesPerUser && len(slots) < missing; i++ {
			slots = append(slots, u.Email)
		}
	}
	firstNew := len(st.Users)
	if err := parallel(ctx, len(newUsers), min(conc, 4), func(ctx context.Context, i int) error {
		u := newUsers[i]
		// The account works at once only on a central run with
		// --auto-confirm-registrations, as load runs are; its token
		// comes from the first login.
		// Central allows a client address a few registrations per window;
		// each account says it comes from an address of its own in the
		// benchmarking range 198.18.0.0/15, which central believes only
		// when --trusted-proxies names the generator's address.
		req := connect.NewRequest(&homeplanev1.RegisterRequest{Email: u.Email, Password: u.Password})
		n := firstNew + i
		req.Header().Set("X-Forwarded-For", fmt.Sprintf("198.%d.%d.%d", 18+n>>16&1, n>>8&255, n&255))
		if _, err := api.auth.Register(ctx, req); err != nil {
			return fmt.Errorf("register %s: %w", u.Email, err)
		}
		return st.add(record{User: &u})
	}); err != nil {
		return err
	}
	passwords := map[string]string{}
	for _, u := range st.Users {
		passwords[u.Email] = u.Password
	}
	tokens.passwords = passwords

	var done atomic.Int64
	err := parallel(ctx, len(slots), conc, func(ctx context.Context, i int) error {
		owner := slots[i]
		var a *Agent
		err := tokens.do(ctx, owner, func(token string) error {
			var err error
			a, err = enrollHome(ctx, api, token, owner)
			return err
		})
		if err != nil {
			return err
		}
		if err := st.add(record{Agent: a}); err != nil {
			return err
		}
		if progress != nil {
			progress(int(done.Add(1)), 0)
		}
		return nil
	})
	if err != nil {
		return err
	}

	have := len(st.Devices)
	if devices > have && len(st.Agents) == 0 {
		return errors.New("devices need at least one home")
	}
	return parallel(ctx, devices-have, conc, func(ctx context.Context, i int) error {
		// Devices spread evenly over the homes.
		n := have + i
		a := st.Agents[n*len(st.Agents)/devices]
		return tokens.do(ctx, a.Owner, func(token string) error {
			resp, err := api.homes.RegisterDevice(ctx, bearer(token, &homeplanev1.RegisterDeviceRequest{
				HomeId: a.HomeID, Name: fmt.Sprintf("load satellite %d", n), Area: "Kitchen",
			}))
			if err != nil {
				return fmt.Errorf("register device: %w", err)
			}
			if err := st.add(record{Device: &Device{HomeID: a.HomeID, Token: resp.Msg.GetToken(), ID: resp.Msg.GetDevice().GetId()}}); err != nil {
				return err
			}
			if progress != nil {
				progress(len(st.Agents), n+1)
			}
			return nil
		})
	})
}

// enrollHome creates a home and enrolls an agent for it, as homectl and the
// agent would.
func enrollHome(ctx context.Context, api *API, token, owner string) (*Agent, error) {
	h, err := api.homes.CreateHome(ctx, bearer(token, &homeplanev1.CreateHomeRequest{Name: "load home " + randHex(4)}))
	if err != nil {
		return nil, fmt.Errorf("create home: %w", err)
	}
	id := h.Msg.GetHome().GetId()
	et, err := api.homes.CreateEnrollmentToken(ctx, bearer(token, &homeplanev1.CreateEnrollmentTokenRequest{HomeId: id}))
	if err != nil {
		return nil, fmt.Errorf("enrollment token: %w", err)
	}
	en, err := api.agents.Enroll(ctx, connect.NewRequest(&homeplanev1.EnrollRequest{
		Token: et.Msg.GetToken(), Hostname: "load-" + id[:8], AgentVersion: "homeplane-load",
	}))
	if err != nil {
		return nil, fmt.Errorf("enroll: %w", err)
	}
	return &Agent{Owner: owner, HomeID: en.Msg.GetHomeId(), AgentID: en.Msg.GetAgentId(),
		Username: en.Msg.GetMqttUsername(), Password: en.Msg.GetMqttPassword()}, nil
}

// tokenCache holds an access token per account and logs in again when one
// is refused (they live 15 minutes).
type tokenCache struct {
	api       *API
	passwords map[string]string
	// login lets one Login run at a time: central checks one per client
	// address at a time and refuses the others.
	login  sync.Mutex
	mu     sync.Mutex
	tokens map[string]string
}

func (c *tokenCache) put(email, token string) {
	c.mu.Lock()
	c.tokens[email] = token
	c.mu.Unlock()
}

func (c *tokenCache) get(ctx context.Context, email string, fresh bool) (string, error) {
	c.mu.Lock()
	t, ok := c.tokens[email]
	c.mu.Unlock()
	if ok && !fresh {
		return t, nil
	}
	c.login.Lock()
	resp, err := c.api.auth.Login(ctx, connect.NewRequest(&homeplanev1.LoginRequest{Email: email, Password: c.passwords[email]}))
	c.login.Unlock()
	if err != nil {
		return "", fmt.Errorf("log in %s (central needs --auto-confirm-registrations for new accounts): %w", email, err)
	}
	t = resp.Msg.GetTokens().GetAccessToken()
	c.put(email, t)
	return t, nil
}

// do runs fn with email's token, once more with a fresh one if refused.
func (c *tokenCache) do(ctx context.Context, email string, fn func(token string) error) error {
	t, err := c.get(ctx, email, false)
	if err != nil {
		return err
	}
	err = fn(t)
	if connect.CodeOf(err) != connect.CodeUnauthenticated {
		return err
	}
	if t, err = c.get(ctx, email, true); err != nil {
		return err
	}
	return fn(t)
}

// parallel runs fn(0..n-1) with conc at a time; the first error stops it.
func parallel(ctx context.Context, n, conc int, fn func(ctx context.Context, i int) error) error {
	if n <= 0 {
		return nil
	}
	inner, cancel := context.WithCancel(ctx)
	defer cancel()
	var once sync.Once
	var first error
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(conc, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := fn(inner, i); err != nil {
					once.Do(func() { first = err })
					cancel()
				}
			}
		}()
	}
feed:
	for i := range n {
		select {
		case next <- i:
		case <-inner.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if first != nil {
		return first
	}
	return ctx.Err()
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

package e2e

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/golang-jwt/jwt/v5"
	"github.com/jackc/pgx/v5"
	"github.com/mochi-mqtt/server/v2/packets"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
	"github.com/homeplane/homeplane/protocol/gen/homeplane/v1/homeplanev1connect"
	"github.com/homeplane/homeplane/protocol/topic"
)

// rawMQTT opens a TCP connection to central's broker and sends pk, a
// CONNECT, as encoded (patch may change its bytes first). It returns the
// connection and the broker's first answer: its type and body, or the
// error reading it.
func rawMQTT(t *testing.T, c *central, pk *packets.Packet, patch func([]byte) []byte) (net.Conn, byte, []byte, error) {
	t.Helper()
	conn := c.dialBroker(t)
	t.Cleanup(func() { conn.Close() })
	var buf bytes.Buffer
	if err := pk.ConnectEncode(&buf); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	if patch != nil {
		b = patch(b)
	}
	if _, err := conn.Write(b); err != nil {
		return conn, 0, nil, err
	}
	m := &mqtt5{conn: conn}
	typ, body, err := m.read(5 * time.Second)
	return conn, typ, body, err
}

// connectPacket is a CONNECT of the agent user/pass with protocol version v.
func connectPacket(v byte, id, user, pass string) *packets.Packet {
	return &packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}, ProtocolVersion: v,
		Connect: packets.ConnectParams{ProtocolName: []byte("MQTT"), Clean: true, Keepalive: 30,
			ClientIdentifier: id, UsernameFlag: true, Username: []byte(user), PasswordFlag: true, Password: []byte(pass)}}
}

// closedSoon reports whether the broker ends conn (or answers DISCONNECT)
// within d, reading and dropping whatever else it sends.
func closedSoon(conn net.Conn, d time.Duration) bool {
	m := &mqtt5{conn: conn}
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		typ, _, err := m.read(time.Until(deadline))
		if err != nil {
			var ne net.Error
			return !(errors.As(err, &ne) && ne.Timeout())
		}
		if typ == packets.Disconnect {
			return true
		}
	}
	return false
}

// connackCode is the reason code of a CONNACK body (v3 and v5 alike).
func connackCode(body []byte) byte {
	if len(body) < 2 {
		return 0xff
	}
	return body[1]
}

// signingKey reads central's newest access-token key from its database,
// as someone holding a copy of it would.
func signingKey(t *testing.T, c *central) (string, ed25519.PrivateKey) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, c.db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var kid string
	var seed []byte
	if err := conn.QueryRow(ctx, `SELECT kid, seed FROM signing_keys ORDER BY created_at DESC LIMIT 1`).Scan(&kid, &seed); err != nil {
		t.Fatal(err)
	}
	return kid, ed25519.NewKeyFromSeed(seed)
}

// userID reads the id of email's account.
func userID(t *testing.T, c *central, email string) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, c.db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var id string
	if err := conn.QueryRow(ctx, `SELECT id::text FROM users WHERE email = $1`, email).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

// rawPost sends body to an API procedure with the given headers and
// returns the status, the body (up to 64 KiB) and how long it took.
func rawPost(t *testing.T, c *central, path string, hdr map[string]string, body io.Reader) (int, string, time.Duration) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, c.url+path, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error(), time.Since(start)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, string(b), time.Since(start)
}

// gzipOf compresses n bytes: prefix, then filler, then suffix.
func gzipOf(t *testing.T, prefix string, filler byte, n int, suffix string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zw.Write([]byte(prefix))
	chunk := bytes.Repeat([]byte{filler}, 1<<20)
	for left := n; left > 0; left -= len(chunk) {
		zw.Write(chunk[:min(left, len(chunk))])
	}
	zw.Write([]byte(suffix))
	zw.Close()
	return buf.Bytes()
}

// TestAttacksRound8Central is the eighth attack round on central
// (docs/benchmarks.md, "Attacks, round 8: central"): its broker's packet
// bound on the running binary, MQTT 5 properties, wills and client ids;
// the Connect API's bodies, compression, content types, streams and
// connections; access tokens; tenancy through RPCs earlier rounds did
// not try; the dashboard; and hostile audit and usage queries. Everything
// runs for real: central's binary with its embedded broker and
// PostgreSQL, and agents in the test's hands.
func TestAttacksRound8Central(t *testing.T) {
	c := startCentral(t)
	ctx := context.Background()
	alice := newHandAgent(t, c, "alice@example.com")
	bob := newHandAgent(t, c, "bob@example.com")
	ops := c.admin(t, "ops@example.com")
	adm := homeplanev1connect.NewAdminServiceClient(http.DefaultClient, c.url)
	pid := c.proc.cmd.Process.Pid
	none := "00000000-0000-4000-8000-000000000000"

	devOf := func(t *testing.T, a *handAgent, name string) (token, id string) {
		t.Helper()
		r, err := c.homes.RegisterDevice(ctx, authed(a.token, &homeplanev1.RegisterDeviceRequest{HomeId: a.homeID, Name: name}))
		if err != nil {
			t.Fatal(err)
		}
		l, err := c.homes.ListDevices(ctx, authed(a.token, &homeplanev1.ListDevicesRequest{HomeId: a.homeID}))
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range l.Msg.GetDevices() {
			if d.GetName() == name {
				id = d.GetId()
			}
		}
		return r.Msg.GetToken(), id
	}
	aliceDevice, _ := devOf(t, alice, "Kitchen speaker")
	// spare enrolls agent credentials for a new home of mallory's, one
	// account for every row that needs an agent of its own (central
	// throttles registrations from one address).
	mallory := c.user(t, "mallory@example.com")
	spare := func(t *testing.T, name string) (user, pass string) {
		t.Helper()
		return c.enrollAgent(t, mallory, c.createHome(t, mallory, name))
	}
	_, bobDeviceID := devOf(t, bob, "Hall speaker")

	// stillServes fails unless both homes' agents and the API still work:
	// a marker each agent publishes reaches central's registry.
	stillServes := func(t *testing.T) {
		t.Helper()
		alice.marker(t, c)
		bob.marker(t, c)
	}
	// rssBounded fails when central's resident memory grew by more than
	// limit since before.
	rssBounded := func(t *testing.T, before, limit int64) {
		t.Helper()
		grew := rssBytes(t, pid) - before
		t.Logf("central's RSS grew by %.1f MiB", float64(grew)/(1<<20))
		if grew > limit {
			t.Errorf("central's RSS grew by %d MiB (bound %d MiB)", grew>>20, limit>>20)
		}
	}
	aliceOnline := func(t *testing.T) bool {
		t.Helper()
		g, err := c.homes.GetHome(ctx, authed(alice.token, &homeplanev1.GetHomeRequest{HomeId: alice.homeID}))
		if err != nil {
			t.Fatal(err)
		}
		return g.Msg.GetHome().GetOnline()
	}
	unauthenticated := func(t *testing.T, token string) {
		t.Helper()
		_, err := c.homes.ListHomes(ctx, authed(token, &homeplanev1.ListHomesRequest{}))
		if connect.CodeOf(err) != connect.CodeUnauthenticated {
			t.Errorf("ListHomes: %v, want unauthenticated", err)
		}
	}
	forge := func(t *testing.T, claims jwt.MapClaims) string {
		t.Helper()
		kid, key := signingKey(t, c)
		tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
		tok.Header["kid"] = kid
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	aliceID := userID(t, c, "alice@example.com")
	claims := func(mod func(jwt.MapClaims)) jwt.MapClaims {
		now := time.Now()
		m := jwt.MapClaims{"iss": "homeplane", "aud": []string{"homeplane-api"}, "sub": aliceID, "role": "user",
			"sv": 0, "iat": now.Unix(), "exp": now.Add(10 * time.Minute).Unix(), "jti": "x"}
		mod(m)
		return m
	}
	// sameAsNone fails unless each call against theirs failed exactly like
	// the call against an id nobody has.
	sameAsNone := func(t *testing.T, theirs, nobody map[string]error) {
		t.Helper()
		for name, err := range theirs {
			if err == nil || fmt.Sprint(err) != fmt.Sprint(nobody[name]) {
				t.Errorf("%s of another's id: %v; of an id nobody has: %v", name, err, nobody[name])
			}
		}
	}

	rows := []struct {
		name string
		run  func(t *testing.T)
	}{
		// The broker's packet bound on the running binary.
		{"mqtt/a 2 MiB publish to the running binary", func(t *testing.T) {
			before := rssBytes(t, pid)
			conn, typ, body, err := rawMQTT(t, c, connectPacket(5, bob.user, bob.user, bob.pass), nil)
			if err != nil || typ != packets.Connack || connackCode(body) != 0 {
				t.Fatalf("connect: %d %v %v", typ, body, err)
			}
			var hdr bytes.Buffer
			hdr.WriteByte(packets.Publish << 4)
			encodeLength(&hdr, 2<<20)
			conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
			conn.Write(hdr.Bytes())
			go conn.Write(make([]byte, 2<<20)) // the broker may stop reading
			if !closedSoon(conn, 5*time.Second) {
				t.Error("the connection with a 2 MiB packet is still open after 5 s")
			}
			bob.c.Disconnect(0) // the raw connection took over bob's session
			bob.connect(t, c)
			stillServes(t)
			rssBounded(t, before, 16<<20)
		}},
		{"mqtt/twenty connections each announcing a 256 MiB packet, sent slowly", func(t *testing.T) {
			before := rssBytes(t, pid)
			user, pass := spare(t, "mallory")
			var conns []net.Conn
			for range 20 {
				conn, typ, _, err := rawMQTT(t, c, connectPacket(4, user, user, pass), nil)
				if err != nil || typ != packets.Connack {
					continue // a takeover: only the newest session of an id stays
				}
				var hdr bytes.Buffer
				hdr.WriteByte(packets.Publish<<4 | 2)
				encodeLength(&hdr, 268435455)
				conn.Write(hdr.Bytes())
				conn.Write(make([]byte, 64<<10))
				conns = append(conns, conn)
			}
			for _, conn := range conns {
				if !closedSoon(conn, 5*time.Second) {
					t.Error("a connection announcing 256 MiB is still open after 5 s")
				}
			}
			stillServes(t)
			rssBounded(t, before, 16<<20)
		}},
		{"mqtt/a CONNECT of 900 KiB of user properties, fifty at once", func(t *testing.T) {
			before := rssBytes(t, pid)
			user, pass := spare(t, "props")
			var wg sync.WaitGroup
			for i := range 50 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					pk := connectPacket(5, fmt.Sprintf("%s-%d", user, i), user, pass)
					for j := range 9000 {
						pk.Properties.User = append(pk.Properties.User, packets.UserProperty{Key: fmt.Sprint(j), Val: strings.Repeat("v", 90)})
					}
					conn, typ, body, err := rawMQTT(t, c, pk, nil)
					if err == nil && typ == packets.Connack && connackCode(body) == 0 {
						t.Errorf("a CONNECT with another client id than the username and 900 KiB of properties was accepted")
					}
					conn.Close()
				}()
			}
			wg.Wait()
			stillServes(t)
			rssBounded(t, before, 64<<20)
		}},
		{"mqtt5/receive maximum 0", func(t *testing.T) {
			user, pass := spare(t, "recvmax")
			pk := connectPacket(5, user, user, pass)
			pk.Properties.ReceiveMaximum = 1
			conn, _, _, _ := rawMQTT(t, c, pk, func(b []byte) []byte {
				return bytes.Replace(b, []byte{0x21, 0x00, 0x01}, []byte{0x21, 0x00, 0x00}, 1)
			})
			defer conn.Close()
			// mochi reads a receive maximum of 0 as none given (the
			// broker's own bound then holds): what must hold is that such
			// a client, accepted or not, stalls nobody else.
			stillServes(t)
		}},
		{"mqtt5/topic aliases 0 and 65535 though the broker grants none", func(t *testing.T) {
			for _, alias := range []uint16{0, 65535} {
				m := dial5(t, c, bob)
				// mochi's encoder leaves out an alias of 0: encode 1 and
				// write the alias asked for over it.
				pk := &packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish}, ProtocolVersion: 5,
					TopicName: topic.For(bob.homeID, topic.Telemetry), Payload: []byte("x"),
					Properties: packets.Properties{TopicAlias: 1, TopicAliasFlag: true}}
				var buf bytes.Buffer
				if err := pk.PublishEncode(&buf); err != nil {
					t.Fatal(err)
				}
				b := bytes.Replace(buf.Bytes(), []byte{0x23, 0x00, 0x01}, []byte{0x23, byte(alias >> 8), byte(alias)}, 1)
				if _, err := m.conn.Write(b); err != nil {
					t.Fatal(err)
				}
				if !closedSoon(m.conn, 5*time.Second) {
					t.Errorf("a publish with topic alias %d left the connection open", alias)
				}
				m.close()
			}
			bob.c.Disconnect(0)
			bob.connect(t, c)
			stillServes(t)
		}},
		{"mqtt5/a session expiry of 2^32-1 seconds", func(t *testing.T) {
			user, pass := spare(t, "expiry")
			pk := connectPacket(5, user, user, pass)
			pk.Connect.Clean = false
			pk.Properties.SessionExpiryInterval, pk.Properties.SessionExpiryIntervalFlag = 0xFFFFFFFF, true
			_, typ, body, err := rawMQTT(t, c, pk, nil)
			if err != nil || typ != packets.Connack {
				t.Fatalf("connect: %d %v", typ, err)
			}
			ack := &packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connack, Remaining: len(body)}, ProtocolVersion: 5}
			if err := ack.ConnackDecode(body); err != nil {
				t.Fatal(err)
			}
			if !ack.Properties.SessionExpiryIntervalFlag || ack.Properties.SessionExpiryInterval > 3600 {
				t.Errorf("CONNACK keeps the session for %d s (flag %v), want at most the broker's hour",
					ack.Properties.SessionExpiryInterval, ack.Properties.SessionExpiryIntervalFlag)
			}
		}},
		{"mqtt/a will on another home's presence topic", func(t *testing.T) {
			if !aliceOnline(t) {
				t.Fatal("alice's home is not online before the row")
			}
			will, _ := proto.Marshal(&homeplanev1.Presence{AgentId: alice.user, Online: false, Time: timestamppb.Now()})
			user, pass := spare(t, "will")
			for _, v := range []byte{4, 5} {
				pk := connectPacket(v, user, user, pass)
				pk.Connect.WillFlag, pk.Connect.WillRetain, pk.Connect.WillQos = true, true, 1
				pk.Connect.WillTopic, pk.Connect.WillPayload = topic.For(alice.homeID, topic.Presence), will
				conn, _, _, _ := rawMQTT(t, c, pk, nil)
				conn.Close() // no DISCONNECT: the will is due
			}
			time.Sleep(2 * time.Second)
			if !aliceOnline(t) {
				t.Error("a will on alice's presence topic took her home offline")
			}
			stillServes(t)
		}},
		{"mqtt/subscriptions to another home, wildcards, $SYS and shared ones", func(t *testing.T) {
			for _, f := range []string{topic.For(alice.homeID, topic.Command), topic.For(alice.homeID, topic.Entities), "#", "+/+/+/+",
				"homeplane/#", "$SYS/#", "$SYS/broker/clients/connected", "$share/g/" + topic.For(alice.homeID, topic.Command),
				topic.For(bob.homeID, topic.Command) + "/#"} {
				tok := bob.c.Subscribe(f, 1, func(paho.Client, paho.Message) { t.Errorf("bob received a message on %s", f) })
				if !tok.WaitTimeout(5*time.Second) && bob.c.IsConnected() {
					t.Errorf("subscribe %s: no answer", f)
					continue
				}
				if st, ok := tok.(*paho.SubscribeToken); ok && tok.Error() == nil {
					// paho keys a shared filter's result without its
					// $share/group/ prefix: one filter, one result.
					for _, q := range st.Result() {
						if q != 0x80 {
							t.Errorf("subscribe %s granted QoS %d", f, q)
						}
					}
				}
				if !bob.c.IsConnected() {
					bob.connect(t, c)
				}
			}
			alice.marker(t, c) // alice's agent publishes; bob hears nothing
			time.Sleep(500 * time.Millisecond)
			stillServes(t)
		}},
		{"mqtt/an agent publishing commands to itself, retained", func(t *testing.T) {
			before := bob.commandCount()
			cmd, _ := proto.Marshal(&homeplanev1.Command{Id: "00000000-0000-4000-8000-000000000001"})
			for range 200 {
				bob.publishRaw(t, c, topic.For(bob.homeID, topic.Command), 1, true, cmd)
			}
			bob.c.Disconnect(0)
			bob.connect(t, c) // subscribes again: a retained command would arrive now
			time.Sleep(time.Second)
			if n := bob.commandCount(); n != before {
				t.Errorf("bob's agent received %d commands it published itself", n-before)
			}
			stillServes(t)
		}},
		{"mqtt/another home's agent takes alice's client id", func(t *testing.T) {
			for _, v := range []byte{4, 5} {
				_, typ, body, err := rawMQTT(t, c, connectPacket(v, alice.user, bob.user, bob.pass), nil)
				if err == nil && typ == packets.Connack && connackCode(body) == 0 {
					t.Errorf("MQTT %d: bob's credentials connected with alice's client id", v)
				}
			}
			time.Sleep(500 * time.Millisecond)
			if !alice.c.IsConnected() {
				t.Error("alice's agent was disconnected by bob's attempt")
			}
			stillServes(t)
		}},
		{"mqtt/300 TCP connections that never send CONNECT", func(t *testing.T) {
			u, _ := url.Parse(c.mqttURL)
			var conns []net.Conn
			// From another address than the agents': the broker bounds
			// the pending connections of each address (ADR 0020).
			d := net.Dialer{Timeout: 2 * time.Second, LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
			for range 300 {
				conn, err := d.Dial("tcp", u.Host)
				if err != nil {
					break
				}
				conns = append(conns, conn)
			}
			defer func() {
				for _, conn := range conns {
					conn.Close()
				}
			}()
			start := time.Now()
			if _, err := dial(t, c.mqttURL, alice.user+"x", "nobody", "x"); err == nil {
				t.Error("a wrong password connected")
			}
			stillServes(t)
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("agents were served in %v beside the idle sockets", d)
			}
		}},

		// The Connect API.
		{"api/a gzip bomb: 1 GiB of JSON in 1 MiB, unary", func(t *testing.T) {
			before := rssBytes(t, pid)
			body := gzipOf(t, `{"email":"`, 'a', 1<<30, `","password":"x"}`)
			code, out, d := rawPost(t, c, "/homeplane.v1.AuthService/Login",
				map[string]string{"Content-Type": "application/json", "Content-Encoding": "gzip"}, bytes.NewReader(body))
			if code == http.StatusOK || !strings.Contains(out, "resource_exhausted") && code != http.StatusRequestEntityTooLarge {
				t.Errorf("%d %s", code, clipForLog(out))
			}
			if d > 5*time.Second {
				t.Errorf("refused in %v", d)
			}
			rssBounded(t, before, 32<<20)
		}},
		{"api/a gzip bomb in a server stream's request envelope", func(t *testing.T) {
			before := rssBytes(t, pid)
			z := gzipOf(t, `{"homeId":"`, 'a', 256<<20, `"}`)
			env := append([]byte{1, 0, 0, 0, 0}, z...)
			binary.BigEndian.PutUint32(env[1:5], uint32(len(z)))
			code, out, d := rawPost(t, c, "/homeplane.v1.IntentService/WatchTimers",
				map[string]string{"Content-Type": "application/connect+json", "Connect-Content-Encoding": "gzip",
					"Authorization": "Bearer " + alice.token}, bytes.NewReader(env))
			if !strings.Contains(out, "resource_exhausted") && !strings.Contains(out, "invalid_argument") {
				t.Errorf("%d %s", code, clipForLog(out))
			}
			if d > 5*time.Second {
				t.Errorf("answered in %v", d)
			}
			rssBounded(t, before, 32<<20)
		}},
		{"api/JSON 30,000 and 100,000 deep", func(t *testing.T) {
			// 30,000 deep fits the 64 KiB body bound and is refused as
			// malformed; 100,000 deep is refused by the bound first.
			for depth, want := range map[int]string{30000: "invalid_argument", 100000: "resource_exhausted"} {
				body := `{"email":` + strings.Repeat("[", depth) + strings.Repeat("]", depth) + `}`
				code, out, d := rawPost(t, c, "/homeplane.v1.AuthService/Login", map[string]string{"Content-Type": "application/json"},
					strings.NewReader(body))
				if code < 400 || code >= 500 || !strings.Contains(out, want) || d > 2*time.Second {
					t.Errorf("%d deep: %d %s in %v", depth, code, clipForLog(out), d)
				}
			}
		}},
		{"api/a home id given twice, alice's and bob's", func(t *testing.T) {
			for _, body := range []string{
				`{"homeId":"` + alice.homeID + `","homeId":"` + bob.homeID + `"}`,
				`{"homeId":"` + alice.homeID + `","home_id":"` + bob.homeID + `"}`,
			} {
				code, out, _ := rawPost(t, c, "/homeplane.v1.HomeService/ListEntities",
					map[string]string{"Content-Type": "application/json", "Authorization": "Bearer " + alice.token}, strings.NewReader(body))
				if code == http.StatusOK || !strings.Contains(out, "invalid_argument") {
					t.Errorf("%s: %d %s", body, code, clipForLog(out))
				}
			}
		}},
		{"api/content types a cross-site form may send", func(t *testing.T) {
			for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "", "application/json; charset=latin1"} {
				code, out, _ := rawPost(t, c, "/homeplane.v1.HomeService/CreateHome",
					map[string]string{"Content-Type": ct, "Authorization": "Bearer " + alice.token}, strings.NewReader(`{"name":"csrf"}`))
				if code == http.StatusOK {
					t.Errorf("Content-Type %q: a home was created: %s", ct, clipForLog(out))
				}
			}
			l, err := c.homes.ListHomes(ctx, authed(alice.token, &homeplanev1.ListHomesRequest{}))
			if err != nil {
				t.Fatal(err)
			}
			for _, h := range l.Msg.GetHomes() {
				if h.GetName() == "csrf" {
					t.Error("a home named csrf exists")
				}
			}
		}},
		{"api/a 12 MiB request body and a 1 MiB header", func(t *testing.T) {
			before := rssBytes(t, pid)
			code, out, _ := rawPost(t, c, "/homeplane.v1.AuthService/Login", map[string]string{"Content-Type": "application/json"},
				io.MultiReader(strings.NewReader(`{"email":"`), bytes.NewReader(bytes.Repeat([]byte("a"), 12<<20)), strings.NewReader(`"}`)))
			if code == http.StatusOK || code == http.StatusInternalServerError {
				t.Errorf("12 MiB body: %d %s", code, clipForLog(out))
			}
			code, out, _ = rawPost(t, c, "/homeplane.v1.AuthService/Login", map[string]string{"Content-Type": "application/json",
				"X-Pad": strings.Repeat("a", 1<<20)}, strings.NewReader(`{}`))
			if code != http.StatusRequestHeaderFieldsTooLarge && code != 0 {
				t.Errorf("1 MiB header: %d %s", code, clipForLog(out))
			}
			rssBounded(t, before, 48<<20)
		}},
		{"api/200 slow-loris connections and 300 idle ones from one address", func(t *testing.T) {
			u, _ := url.Parse(c.url)
			var conns []net.Conn
			for i := range 500 {
				conn, err := net.DialTimeout("tcp", u.Host, 2*time.Second)
				if err != nil {
					t.Fatalf("connection %d: %v", i, err)
				}
				conns = append(conns, conn)
				if i < 200 {
					fmt.Fprintf(conn, "POST /homeplane.v1.AuthService/Login HTTP/1.1\r\nHost: x\r\nX-A: ")
				}
			}
			defer func() {
				for _, conn := range conns {
					conn.Close()
				}
			}()
			stop := make(chan struct{})
			go func() { // a byte of header every second
				for {
					select {
					case <-stop:
						return
					case <-time.After(time.Second):
					}
					for _, conn := range conns[:200] {
						conn.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
						conn.Write([]byte("a"))
					}
				}
			}()
			defer close(stop)
			start := time.Now()
			if _, err := c.homes.ListHomes(ctx, authed(alice.token, &homeplanev1.ListHomesRequest{})); err != nil {
				t.Errorf("ListHomes beside them: %v", err)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("ListHomes beside them took %v", d)
			}
			// The header timeout ends the slow ones.
			closed := 0
			deadline := time.Now().Add(20 * time.Second)
			for _, conn := range conns[:200] {
				conn.SetReadDeadline(deadline)
				if _, err := bufio.NewReader(conn).ReadByte(); err == nil || !isTimeout(err) {
					closed++
				}
			}
			if closed < 200 {
				t.Errorf("%d of 200 slow-loris connections ended within 20 s", closed)
			}
		}},
		{"api/one user opens 300 timer streams", func(t *testing.T) {
			before := rssBytes(t, pid)
			sctx, cancel := context.WithCancel(ctx)
			defer cancel()
			tr := &http.Transport{}
			defer tr.CloseIdleConnections()
			cl := homeplanev1connect.NewIntentServiceClient(&http.Client{Transport: tr}, c.url)
			// A stream central holds open sends nothing while the home has
			// no timer, so its call does not return: the calls that ended
			// are the refused ones.
			var mu sync.Mutex
			refused := map[connect.Code]int{}
			for range 300 {
				go func() {
					s, err := cl.WatchTimers(sctx, authed(alice.token, &homeplanev1.WatchTimersRequest{HomeId: alice.homeID}))
					if err == nil {
						for s.Receive() {
						}
						err = s.Err()
						s.Close()
					}
					if sctx.Err() == nil {
						mu.Lock()
						refused[connect.CodeOf(err)]++
						mu.Unlock()
					}
				}()
			}
			time.Sleep(5 * time.Second)
			mu.Lock()
			n := 0
			for _, k := range refused {
				n += k
			}
			t.Logf("%d of 300 streams refused: %v", n, refused)
			if 300-n > 32 || refused[connect.CodeResourceExhausted] == 0 {
				t.Errorf("one user holds %d timer streams at once", 300-n)
			}
			mu.Unlock()
			if _, err := c.homes.ListHomes(ctx, authed(bob.token, &homeplanev1.ListHomesRequest{})); err != nil {
				t.Errorf("bob beside them: %v", err)
			}
			rssBounded(t, before, 64<<20)
		}},

		// Access tokens.
		{"jwt/alg none and HS256 keyed by the kid", func(t *testing.T) {
			kid, _ := signingKey(t, c)
			none := jwt.NewWithClaims(jwt.SigningMethodNone, claims(func(jwt.MapClaims) {}))
			none.Header["kid"] = kid
			s, _ := none.SignedString(jwt.UnsafeAllowNoneSignatureType)
			unauthenticated(t, s)
			hs := jwt.NewWithClaims(jwt.SigningMethodHS256, claims(func(jwt.MapClaims) {}))
			hs.Header["kid"] = kid
			s, _ = hs.SignedString([]byte(kid))
			unauthenticated(t, s)
		}},
		{"jwt/a kid pointing nowhere, a kid of 10 KB, a 60 KB token", func(t *testing.T) {
			_, key := signingKey(t, c)
			for _, kid := range []string{"nope", strings.Repeat("k", 10000), "../../etc/passwd"} {
				tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims(func(jwt.MapClaims) {}))
				tok.Header["kid"] = kid
				s, _ := tok.SignedString(key)
				unauthenticated(t, s)
			}
			unauthenticated(t, forge(t, claims(func(m jwt.MapClaims) { m["pad"] = strings.Repeat("p", 20000) })))
			// Past the server's 64 KiB of headers the request is refused
			// before any token is read.
			_, err := c.homes.ListHomes(ctx, authed(forge(t, claims(func(m jwt.MapClaims) { m["pad"] = strings.Repeat("p", 60000) })), &homeplanev1.ListHomesRequest{}))
			if err == nil || !strings.Contains(err.Error(), "431") {
				t.Errorf("a 60 KB token: %v, want 431", err)
			}
		}},
		{"jwt/validly signed: nbf and iat in the future, exp in ten years", func(t *testing.T) {
			hour := time.Now().Add(time.Hour).Unix()
			unauthenticated(t, forge(t, claims(func(m jwt.MapClaims) { m["nbf"] = hour })))
			unauthenticated(t, forge(t, claims(func(m jwt.MapClaims) { m["iat"] = hour; m["exp"] = hour + 600 })))
			unauthenticated(t, forge(t, claims(func(m jwt.MapClaims) { m["exp"] = time.Now().AddDate(10, 0, 0).Unix() })))
		}},
		{"jwt/validly signed for an account that does not exist, and for a disabled one", func(t *testing.T) {
			unauthenticated(t, forge(t, claims(func(m jwt.MapClaims) { m["sub"] = none })))
			victim := c.user(t, "victim@example.com")
			if _, err := adm.SetUserDisabled(ctx, authed(ops, &homeplanev1.SetUserDisabledRequest{UserId: userID(t, c, "victim@example.com"), Disabled: true})); err != nil {
				t.Fatal(err)
			}
			unauthenticated(t, victim)
		}},
		{"jwt/a device token on owner and admin RPCs, a refresh token as an access token", func(t *testing.T) {
			if _, err := c.homes.CreateHome(ctx, authed(aliceDevice, &homeplanev1.CreateHomeRequest{Name: "d"})); connect.CodeOf(err) != connect.CodePermissionDenied {
				t.Errorf("CreateHome with a device token: %v", err)
			}
			if _, err := c.homes.RevokeDevice(ctx, authed(aliceDevice, &homeplanev1.RevokeDeviceRequest{HomeId: alice.homeID, DeviceId: bobDeviceID})); connect.CodeOf(err) != connect.CodePermissionDenied {
				t.Errorf("RevokeDevice with a device token: %v", err)
			}
			if _, err := adm.ListUsers(ctx, authed(aliceDevice, &homeplanev1.ListUsersRequest{})); connect.CodeOf(err) != connect.CodePermissionDenied {
				t.Errorf("ListUsers with a device token: %v", err)
			}
			lr, err := c.auth.Login(ctx, connect.NewRequest(&homeplanev1.LoginRequest{Email: "alice@example.com", Password: "correct horse battery"}))
			if err != nil {
				t.Fatal(err)
			}
			unauthenticated(t, lr.Msg.GetTokens().GetRefreshToken())
		}},

		// Tenancy through RPCs earlier rounds did not try.
		{"tenancy/bob's home and device through seven more RPCs look like none", func(t *testing.T) {
			try := func(home, device string) map[string]error {
				m := map[string]error{}
				_, m["DeleteHome"] = c.homes.DeleteHome(ctx, authed(alice.token, &homeplanev1.DeleteHomeRequest{HomeId: home}))
				_, m["RegisterDevice"] = c.homes.RegisterDevice(ctx, authed(alice.token, &homeplanev1.RegisterDeviceRequest{HomeId: home, Name: "x"}))
				_, m["RevokeDevice"] = c.homes.RevokeDevice(ctx, authed(alice.token, &homeplanev1.RevokeDeviceRequest{HomeId: home, DeviceId: device}))
				_, m["RevokeDevice in alice's home"] = c.homes.RevokeDevice(ctx, authed(alice.token, &homeplanev1.RevokeDeviceRequest{HomeId: alice.homeID, DeviceId: device}))
				_, m["RevokeEnrollmentTokens"] = c.homes.RevokeEnrollmentTokens(ctx, authed(alice.token, &homeplanev1.RevokeEnrollmentTokensRequest{HomeId: home}))
				_, m["SetPipeline"] = c.intents.SetPipeline(ctx, authed(alice.token, &homeplanev1.SetPipelineRequest{HomeId: home, Pipeline: homeplanev1.Pipeline_PIPELINE_RULES}))
				s, err := c.intents.WatchTimers(ctx, authed(alice.token, &homeplanev1.WatchTimersRequest{HomeId: home}))
				if err == nil {
					for s.Receive() {
					}
					err = s.Err()
					s.Close()
				}
				m["WatchTimers"] = err
				return m
			}
			sameAsNone(t, try(bob.homeID, bobDeviceID), try(none, none))
			sameAsNone(t, try(strings.ToUpper(bob.homeID), strings.ToUpper(bobDeviceID)), try(strings.ToUpper(none), strings.ToUpper(none)))
			if _, err := c.homes.GetHome(ctx, authed(bob.token, &homeplanev1.GetHomeRequest{HomeId: bob.homeID})); err != nil {
				t.Errorf("bob's home after the row: %v", err)
			}
			l, err := c.homes.ListDevices(ctx, authed(bob.token, &homeplanev1.ListDevicesRequest{HomeId: bob.homeID}))
			if err != nil || len(l.Msg.GetDevices()) != 1 {
				t.Errorf("bob's devices after the row: %v %v", l, err)
			}
		}},

		// The dashboard.
		{"web/markup in a home's and a device's name, shown to admins", func(t *testing.T) {
			lure := `<script>alert(1)</script><img src=x onerror=alert(2)>`
			h := c.createHome(t, bob.token, lure)
			if _, err := c.homes.RegisterDevice(ctx, authed(bob.token, &homeplanev1.RegisterDeviceRequest{HomeId: h, Name: lure})); err != nil {
				t.Logf("a device named with markup: %v", err)
			}
			b := newBrowser(t, c)
			b.login(t, "/admin", "ops@example.com")
			for _, p := range []string{"/admin/", "/admin/users", "/admin/audit", "/admin/usage", "/admin/usage.csv"} {
				pg := b.get(t, p)
				if pg.status != http.StatusOK {
					t.Errorf("%s: %d", p, pg.status)
				}
				if strings.Contains(pg.body, "<script>alert") || strings.Contains(pg.body, "<img src=x") {
					t.Errorf("%s shows the markup as markup", p)
				}
			}
		}},
		{"web/disabling a user without, with another session's and with a GET instead of the CSRF token", func(t *testing.T) {
			c.user(t, "target@example.com")
			target := userID(t, c, "target@example.com")
			c.admin(t, "ops2@example.com")
			other := newBrowser(t, c)
			other.login(t, "/admin", "ops2@example.com")
			other.get(t, "/admin/users")
			b := newBrowser(t, c)
			b.login(t, "/admin", "ops@example.com")
			b.get(t, "/admin/users")
			for name, v := range map[string]url.Values{"none": {"csrf": {""}}, "another session's": {"csrf": {other.csrf}}} {
				pg := b.post(t, "/admin/users/"+target+"/disable", v)
				if pg.status < 400 {
					t.Errorf("%s token: %d", name, pg.status)
				}
			}
			if pg := b.get(t, "/admin/users/"+target+"/disable"); pg.status < 400 {
				t.Errorf("GET: %d", pg.status)
			}
			l, err := adm.ListUsers(ctx, authed(ops, &homeplanev1.ListUsersRequest{Query: "target@"}))
			if err != nil || len(l.Msg.GetUsers()) != 1 || l.Msg.GetUsers()[0].GetDisabled() {
				t.Errorf("the target after the row: %v %v", l, err)
			}
		}},
		{"web/a session cookie planted before login", func(t *testing.T) {
			b := newBrowser(t, c)
			b.setCookie(t, "/admin", "homeplane_admin", "planted")
			b.setCookie(t, "/admin", "homeplane_admin_login", "planted")
			if pg := b.get(t, "/admin/"); pg.status < 300 || pg.status == http.StatusOK {
				t.Errorf("the planted cookie opened the dashboard: %d", pg.status)
			}
			b.login(t, "/admin", "ops@example.com")
			if v := b.cookie(t, "/admin/", "homeplane_admin"); v == "planted" || v == "" {
				t.Errorf("the session cookie after login is %q", v)
			}
		}},

		// Audit and usage queries.
		{"audit/hostile page tokens and filters", func(t *testing.T) {
			tokens := []string{"x", "-1", "99999999999999999999999", "' OR 1=1 --", "\x00", strings.Repeat("A", 10000),
				base64.RawURLEncoding.EncodeToString([]byte(`{"id":-1,"time":"0001-01-01T00:00:00Z"}`)),
				base64.StdEncoding.EncodeToString([]byte("9223372036854775807")), "%00", "\u202e1"}
			for _, tok := range tokens {
				start := time.Now()
				_, err := adm.QueryAudit(ctx, authed(ops, &homeplanev1.QueryAuditRequest{PageToken: tok}))
				if connect.CodeOf(err) != connect.CodeInvalidArgument {
					t.Errorf("page token %q: %v, want invalid argument", clipForLog(tok), err)
				}
				if d := time.Since(start); d > 2*time.Second {
					t.Errorf("page token %q answered in %v", clipForLog(tok), d)
				}
			}
			for name, req := range map[string]*homeplanev1.QueryAuditRequest{
				"page size -1":           {PageSize: -1},
				"page size 2^31-1":       {PageSize: 1<<31 - 1},
				"since after until":      {Since: timestamppb.Now(), Until: timestamppb.New(time.Now().Add(-time.Hour))},
				"year 1 to 9999":         {Since: timestamppb.New(time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)), Until: timestamppb.New(time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC))},
				"a timestamp past 9999":  {Since: &timestamppb.Timestamp{Seconds: 1 << 62}},
				"a user id not a uuid":   {UserId: "'; DROP TABLE users; --"},
				"a home id of 10 KB":     {HomeId: strings.Repeat("a", 10000)},
				"an outcome with NUL":    {Outcome: "ok\x00"},
				"a kind of regex":        {Kind: ".*"},
				"text of 100 KB":         {Text: strings.Repeat("%_", 50000)},
				"an intent with a quote": {Intent: `"HassTurnOn`},
			} {
				_, err := adm.QueryAudit(ctx, authed(ops, req))
				if code := connect.CodeOf(err); err != nil && code != connect.CodeInvalidArgument && code != connect.CodeResourceExhausted {
					t.Errorf("%s: %v", name, err)
				}
			}
		}},
		{"usage/hostile ranges", func(t *testing.T) {
			for name, req := range map[string]*homeplanev1.GetUsageReportRequest{
				"since after until":     {Since: timestamppb.Now(), Until: timestamppb.New(time.Now().Add(-time.Hour))},
				"year 1 to 9999":        {Since: timestamppb.New(time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)), Until: timestamppb.New(time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC))},
				"a timestamp past 9999": {Until: &timestamppb.Timestamp{Seconds: 1 << 62}},
				"negative nanos":        {Since: &timestamppb.Timestamp{Seconds: 1, Nanos: -5}},
			} {
				start := time.Now()
				_, err := adm.GetUsageReport(ctx, authed(ops, req))
				if code := connect.CodeOf(err); err != nil && code != connect.CodeInvalidArgument {
					t.Errorf("%s: %v", name, err)
				}
				if d := time.Since(start); d > 3*time.Second {
					t.Errorf("%s answered in %v", name, d)
				}
			}
			b := newBrowser(t, c)
			b.login(t, "/admin", "ops@example.com")
			for _, q := range []string{"?since=0001-01-01&until=9999-12-31", "?since=x", "?page=-1", "?since=2026-01-01&until=2025-01-01",
				"?since=" + strings.Repeat("9", 5000)} {
				for _, p := range []string{"/admin/usage", "/admin/usage.csv", "/admin/audit"} {
					if pg := b.get(t, p+q); pg.status >= 500 {
						t.Errorf("%s%s: %d %s", p, clipForLog(q), pg.status, clipForLog(pg.body))
					}
				}
			}
		}},
	}
	passed := 0
	for _, r := range rows {
		if t.Run(r.name, r.run) {
			passed++
		}
	}
	t.Logf("round 8 on central: %d of %d attacks defended", passed, len(rows))
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// encodeLength appends n as an MQTT remaining length.
func encodeLength(b *bytes.Buffer, n int) {
	for {
		d := byte(n % 128)
		n /= 128
		if n > 0 {
			d |= 128
		}
		b.WriteByte(d)
		if n == 0 {
			return
		}
	}
}

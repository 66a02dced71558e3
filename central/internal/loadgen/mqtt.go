package loadgen

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// maxPacket bounds a packet the light client reads; commands are a few
// hundred bytes.
const maxPacket = 256 << 10

// readBuffer is small on purpose: 15,000 connections each hold one.
const readBuffer = 512

// session is one light MQTT 3.1.1 connection: the caller's goroutine does the
// handshake, then a single reader goroutine handles everything the broker
// sends. Writes take a mutex and a deadline, so the shared timers that ping
// and publish never block on one slow connection for long.
type session struct {
	nc     net.Conn
	br     *bufio.Reader
	wmu    sync.Mutex
	wbuf   bytes.Buffer
	nextID uint16
}

// errRefused is a CONNACK with a non-zero return code.
type errRefused byte

func (e errRefused) Error() string { return fmt.Sprintf("connection refused: return code %d", byte(e)) }

// connackCode names a CONNACK return code (MQTT 3.1.1 §3.2.2.3).
func connackCode(c byte) string {
	switch c {
	case 1:
		return "unacceptable_protocol"
	case 2:
		return "identifier_rejected"
	case 3:
		return "server_unavailable"
	case 4:
		return "bad_credentials"
	case 5:
		return "not_authorized"
	}
	return fmt.Sprintf("code_%d", c)
}

// handshake sends CONNECT and waits for a successful CONNACK, then
// subscribes to sub at QoS 1 and waits for its SUBACK. Packets queued in the
// session (commands) may arrive before the SUBACK; they are returned for the
// caller to handle once its reader runs.
func (s *session) handshake(connect *packets.Packet, sub string, timeout time.Duration) ([]packets.Packet, error) {
	s.nc.SetDeadline(time.Now().Add(timeout))
	defer s.nc.SetDeadline(time.Time{})
	if err := s.write(connect, 0); err != nil {
		return nil, err
	}
	pk, err := s.read()
	if err != nil {
		return nil, fmt.Errorf("read connack: %w", err)
	}
	if pk.FixedHeader.Type != packets.Connack {
		return nil, fmt.Errorf("expected connack, got packet type %d", pk.FixedHeader.Type)
	}
	if pk.ReasonCode != 0 {
		return nil, errRefused(pk.ReasonCode)
	}
	subID := s.id()
	subscribe := &packets.Packet{
		FixedHeader:     packets.FixedHeader{Type: packets.Subscribe, Qos: 1},
		ProtocolVersion: 4,
		PacketID:        subID,
		Filters:         packets.Subscriptions{{Filter: sub, Qos: 1}},
	}
	if err := s.write(subscribe, 0); err != nil {
		return nil, err
	}
	var early []packets.Packet
	for {
		pk, err := s.read()
		if err != nil {
			return nil, fmt.Errorf("read suback: %w", err)
		}
		switch pk.FixedHeader.Type {
		case packets.Suback:
			if pk.PacketID != subID || len(pk.ReasonCodes) != 1 || pk.ReasonCodes[0] > 2 {
				return nil, errors.New("subscription refused")
			}
			return early, nil
		case packets.Publish:
			early = append(early, pk)
		}
	}
}

// id returns the next packet id (never 0). Callers hold no lock: ids are
// only taken under wmu or before the reader starts.
func (s *session) id() uint16 {
	s.nextID++
	if s.nextID == 0 {
		s.nextID = 1
	}
	return s.nextID
}

// write encodes and sends pk; a publish at QoS 1 gets the next packet id.
// timeout 0 leaves the connection's deadline as it is.
func (s *session) write(pk *packets.Packet, timeout time.Duration) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if pk.FixedHeader.Type == packets.Publish && pk.FixedHeader.Qos > 0 {
		pk.PacketID = s.id()
	}
	s.wbuf.Reset()
	var err error
	switch pk.FixedHeader.Type {
	case packets.Connect:
		err = pk.ConnectEncode(&s.wbuf)
	case packets.Subscribe:
		err = pk.SubscribeEncode(&s.wbuf)
	case packets.Publish:
		err = pk.PublishEncode(&s.wbuf)
	case packets.Puback:
		err = pk.PubackEncode(&s.wbuf)
	case packets.Pingreq:
		err = pk.PingreqEncode(&s.wbuf)
	case packets.Disconnect:
		err = pk.DisconnectEncode(&s.wbuf)
	default:
		err = fmt.Errorf("cannot send packet type %d", pk.FixedHeader.Type)
	}
	if err != nil {
		return err
	}
	if timeout > 0 {
		s.nc.SetWriteDeadline(time.Now().Add(timeout))
	}
	_, err = s.nc.Write(s.wbuf.Bytes())
	if s.wbuf.Cap() > 4<<10 {
		s.wbuf = bytes.Buffer{} // an entity sync grew it; do not keep it per connection
	}
	return err
}

// read reads one packet. A publish's payload aliases a fresh buffer the
// caller owns.
func (s *session) read() (packets.Packet, error) {
	var pk packets.Packet
	hb, err := s.br.ReadByte()
	if err != nil {
		return pk, err
	}
	if err := pk.FixedHeader.Decode(hb); err != nil {
		return pk, err
	}
	n, _, err := packets.DecodeLength(s.br)
	if err != nil {
		return pk, err
	}
	if n > maxPacket {
		return pk, fmt.Errorf("packet of %d bytes exceeds %d", n, maxPacket)
	}
	pk.FixedHeader.Remaining = n
	pk.ProtocolVersion = 4
	body := make([]byte, n)
	if _, err := io.ReadFull(s.br, body); err != nil {
		return pk, err
	}
	switch pk.FixedHeader.Type {
	case packets.Connack:
		err = pk.ConnackDecode(body)
	case packets.Suback:
		err = pk.SubackDecode(body)
	case packets.Publish:
		err = pk.PublishDecode(body)
	case packets.Puback:
		err = pk.PubackDecode(body)
	case packets.Pingresp:
	default:
		err = fmt.Errorf("unexpected packet type %d", pk.FixedHeader.Type)
	}
	return pk, err
}

func publishPacket(topic string, retain bool, payload []byte) *packets.Packet {
	return &packets.Packet{
		FixedHeader:     packets.FixedHeader{Type: packets.Publish, Qos: 1, Retain: retain},
		ProtocolVersion: 4,
		TopicName:       topic,
		Payload:         payload,
	}
}

package home

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
)

// Opaque credentials: a prefix naming the kind, then 256 random bits in
// base64url. Only their SHA-256 is stored: with that much entropy a slow
// hash adds nothing.
const (
	devicePrefix     = "hpd_"
	enrollmentPrefix = "hpe_"
	agentPrefix      = "hpa_"
	secretRandLen    = 32
	secretBodyLen    = 43 // RawURLEncoding of 32 bytes
)

func newSecret(prefix string) (string, []byte, error) {
	b := make([]byte, secretRandLen)
	if _, err := rand.Read(b); err != nil {
		return "", nil, fmt.Errorf("random secret: %w", err)
	}
	s := prefix + base64.RawURLEncoding.EncodeToString(b)
	return s, hashSecret(s), nil
}

func hashSecret(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// wellFormed reports whether s has the shape of a secret with the prefix.
func wellFormed(s, prefix string) bool {
	if len(s) != len(prefix)+secretBodyLen || !strings.HasPrefix(s, prefix) {
		return false
	}
	_, err := base64.RawURLEncoding.Strict().DecodeString(s[len(prefix):])
	return err == nil
}

// newUUID returns a random (version 4) UUID in lowercase.
func newUUID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("uuid: %w", err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:]), nil
}

// ValidID reports whether id is a UUID in canonical lowercase form.
func ValidID(id string) bool {
	if len(id) != 36 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
				return false
			}
		}
	}
	return true
}

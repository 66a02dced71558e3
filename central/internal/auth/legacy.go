package auth

import (
	"crypto/pbkdf2"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
)

// Hashes imported from the system Homeplane replaces are passlib's
// pbkdf2_sha256: "$pbkdf2-sha256$<rounds>$<salt>$<checksum>", salt and
// checksum in passlib's adapted base64 ("./" for "+/", no padding). They are
// accepted at login once and replaced with argon2id right away.
const pbkdf2Prefix = "$pbkdf2-sha256$"

// Bounds on imported hashes, so a hostile import file cannot make one login
// spin for minutes.
const (
	minPBKDF2Rounds = 1000
	maxPBKDF2Rounds = 5_000_000
)

// ab64 is passlib's adapted base64: "." replaces "+", no padding.
var ab64 = base64.NewEncoding("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789./").WithPadding(base64.NoPadding)

type pbkdf2Hash struct {
	rounds int
	salt   []byte
	sum    []byte
}

func parsePBKDF2(s string) (pbkdf2Hash, error) {
	rest, ok := strings.CutPrefix(s, pbkdf2Prefix)
	if !ok {
		return pbkdf2Hash{}, errBadHash
	}
	parts := strings.Split(rest, "$")
	if len(parts) != 3 {
		return pbkdf2Hash{}, errBadHash
	}
	rounds, err := strconv.Atoi(parts[0])
	if err != nil || rounds < minPBKDF2Rounds || rounds > maxPBKDF2Rounds || strconv.Itoa(rounds) != parts[0] {
		return pbkdf2Hash{}, errBadHash
	}
	salt, err := ab64.DecodeString(parts[1])
	if err != nil || len(salt) == 0 || len(salt) > 1024 {
		return pbkdf2Hash{}, errBadHash
	}
	sum, err := ab64.DecodeString(parts[2])
	if err != nil || len(sum) != sha256.Size {
		return pbkdf2Hash{}, errBadHash
	}
	return pbkdf2Hash{rounds: rounds, salt: salt, sum: sum}, nil
}

// CheckImportedHash reports whether s is a pbkdf2_sha256 hash in passlib's
// format that this package can verify, with a reason when it is not.
func CheckImportedHash(s string) error {
	if _, err := parsePBKDF2(s); err != nil {
		return fmt.Errorf("%w: not a passlib pbkdf2_sha256 hash with %d to %d rounds", ErrInvalidInput, minPBKDF2Rounds, maxPBKDF2Rounds)
	}
	return nil
}

func checkPBKDF2(s, pw string) (bool, error) {
	h, err := parsePBKDF2(s)
	if err != nil {
		return false, err
	}
	got, err := pbkdf2.Key(sha256.New, pw, h.salt, h.rounds, len(h.sum))
	if err != nil {
		return false, errBadHash
	}
	return subtle.ConstantTimeCompare(got, h.sum) == 1, nil
}

// verifyPassword checks pw against a stored hash of either kind and reports
// whether the hash should be replaced by one with the current parameters.
func verifyPassword(stored, pw string) (ok, rehash bool, err error) {
	if strings.HasPrefix(stored, pbkdf2Prefix) {
		ok, err = checkPBKDF2(stored, pw)
		return ok, true, err
	}
	ok, err = checkHash(stored, pw)
	return ok, ok && !currentParams(stored), err
}

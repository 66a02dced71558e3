package auth

import "testing"

// Hashes made by passlib's pbkdf2_sha256, as its documentation shows them.
func TestCheckPBKDF2PasslibVectors(t *testing.T) {
	tests := []struct {
		name, hash, password string
		want                 bool
	}{
		{"29000 rounds", "$pbkdf2-sha256$29000$N2YMIWQsBWBMae09x1jrPQ$1t8iyB2A.WF/Z5JZv.lfCIhXXN33N23OSgQYThBYRfk", "toomanysecrets", true},
		{"29000 rounds, wrong password", "$pbkdf2-sha256$29000$N2YMIWQsBWBMae09x1jrPQ$1t8iyB2A.WF/Z5JZv.lfCIhXXN33N23OSgQYThBYRfk", "joshua", false},
		{"6400 rounds", "$pbkdf2-sha256$6400$0ZrzXitFSGltTQnBWOsdAw$Y11AchqV4b0sUisdZd0Xr97KWoymNE0LNNrnEgY4H9M", "password", true},
		{"10-byte salt", "$pbkdf2-sha256$8000$XAuBMIYQQogxRg$tRRlz8hYn63B9LYiCd6PRo6FMiunY9ozmMMI3srxeRE", "password", true},
		{"10-byte salt, wrong password", "$pbkdf2-sha256$8000$XAuBMIYQQogxRg$tRRlz8hYn63B9LYiCd6PRo6FMiunY9ozmMMI3srxeRE", "Password", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, rehash, err := verifyPassword(tt.hash, tt.password)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want || !rehash {
				t.Fatalf("verifyPassword = %v (rehash %v), want %v (rehash true)", got, rehash, tt.want)
			}
		})
	}
}

func TestCheckImportedHashRejects(t *testing.T) {
	tests := []struct{ name, hash string }{
		{"empty", ""},
		{"argon2id", "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"},
		{"django format", "pbkdf2_sha256$15000$c9w8yi7er7zg$fvhcrjujj1yf3byggmlkrzfxu8sugin/ela9hco/ate="},
		{"standard base64 plus", "$pbkdf2-sha256$29000$N2YMIWQsBWBMae09x1jrPQ$1t8iyB2A+WF/Z5JZv+lfCIhXXN33N23OSgQYThBYRfk"},
		{"too few rounds", "$pbkdf2-sha256$10$N2YMIWQsBWBMae09x1jrPQ$1t8iyB2A.WF/Z5JZv.lfCIhXXN33N23OSgQYThBYRfk"},
		{"absurd rounds", "$pbkdf2-sha256$999999999$N2YMIWQsBWBMae09x1jrPQ$1t8iyB2A.WF/Z5JZv.lfCIhXXN33N23OSgQYThBYRfk"},
		{"leading zero rounds", "$pbkdf2-sha256$029000$N2YMIWQsBWBMae09x1jrPQ$1t8iyB2A.WF/Z5JZv.lfCIhXXN33N23OSgQYThBYRfk"},
		{"short checksum", "$pbkdf2-sha256$29000$N2YMIWQsBWBMae09x1jrPQ$1t8iyB2A"},
		{"extra field", "$pbkdf2-sha256$29000$N2YMIWQsBWBMae09x1jrPQ$1t8iyB2A.WF/Z5JZv.lfCIhXXN33N23OSgQYThBYRfk$x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := CheckImportedHash(tt.hash); err == nil {
				t.Fatalf("CheckImportedHash(%q) accepted it", tt.hash)
			}
		})
	}
	if err := CheckImportedHash("$pbkdf2-sha256$29000$N2YMIWQsBWBMae09x1jrPQ$1t8iyB2A.WF/Z5JZv.lfCIhXXN33N23OSgQYThBYRfk"); err != nil {
		t.Fatalf("passlib hash refused: %v", err)
	}
}

// FuzzImportedHash feeds arbitrary import-file hashes to the parser and
// the check: never a panic, never a match with an error.
func FuzzImportedHash(f *testing.F) {
	f.Add("$pbkdf2-sha256$1000$N2YMIWQsBWBMae09x1jrPQ$1t8iyB2A.WF/Z5JZv.lfCIhXXN33N23OSgQYThBYRfk", "x")
	f.Add("$pbkdf2-sha256$$$", "")
	f.Fuzz(func(t *testing.T, stored, pw string) {
		h, err := parsePBKDF2(stored)
		if (err == nil) != (CheckImportedHash(stored) == nil) {
			t.Fatalf("parse and CheckImportedHash disagree on %q", stored)
		}
		if err != nil || h.rounds > 2000 { // keep the fuzzer off slow valid hashes
			return
		}
		ok, err := checkPBKDF2(stored, pw)
		if err != nil && ok {
			t.Fatalf("accepted with error %v", err)
		}
	})
}

package offline_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/failsmall/breakglass/offline"
)

func TestEvidenceRoundTrip(t *testing.T) {
	f := newFixture(t)
	e := mustEvidence(t, f, "bob", "dave", "erin")
	data, err := e.Encode()
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	if !strings.HasPrefix(string(data), `{"version":1,"statement":"breakglass approval v1\n`) {
		t.Fatalf("encoding starts %.60q", data)
	}
	got, err := offline.ParseEvidence(data)
	if err != nil {
		t.Fatalf("ParseEvidence: %v", err)
	}
	if !reflect.DeepEqual(got, e) {
		t.Fatal("ParseEvidence(Encode(e)) differs from e")
	}
	again, err := got.Encode()
	if err != nil || string(again) != string(data) {
		t.Fatalf("re-encoding differs: %v", err)
	}
	if _, err := offline.ParseEvidence(append(data, " \n"...)); err != nil {
		t.Fatalf("trailing white space: %v", err)
	}
}

func TestParseEvidenceRejects(t *testing.T) {
	tests := map[string]string{
		"empty":                  ``,
		"not an object":          `[]`,
		"no version":             `{"statement":"","approvals":[],"bundle":""}`,
		"version 2":              `{"version":2,"statement":"","approvals":[],"bundle":""}`,
		"no statement":           `{"version":1,"approvals":[],"bundle":""}`,
		"no approvals":           `{"version":1,"statement":"","bundle":""}`,
		"no bundle":              `{"version":1,"statement":"","approvals":[]}`,
		"unknown field":          `{"version":1,"statement":"","approvals":[],"bundle":"","receipt":""}`,
		"unknown approval field": `{"version":1,"statement":"","approvals":[{"statement":"","signature":"","by":"bob"}],"bundle":""}`,
		"two objects":            `{"version":1,"statement":"","approvals":[],"bundle":""}{}`,
		"trailing garbage":       `{"version":1,"statement":"","approvals":[],"bundle":""} x`,
		"wrong type":             `{"version":"1","statement":"","approvals":[],"bundle":""}`,
		"too many approvals":     `{"version":1,"statement":"","approvals":[` + strings.Repeat(`{"statement":"","signature":""},`, offline.MaxApprovals) + `{"statement":"","signature":""}],"bundle":""}`,
	}
	for name, data := range tests {
		if e, err := offline.ParseEvidence([]byte(data)); !errors.Is(err, offline.ErrBadEvidence) {
			t.Errorf("%s: ParseEvidence = %+v, %v; want ErrBadEvidence", name, e, err)
		}
	}
	if _, err := offline.ParseEvidence(make([]byte, offline.MaxEvidenceSize+1)); !errors.Is(err, offline.ErrBadEvidence) {
		t.Errorf("too large: err = %v, want ErrBadEvidence", err)
	}
}

func TestEvidenceWithoutApprovalsRoundTrips(t *testing.T) {
	data, err := (&offline.Evidence{Statement: "s", Bundle: "b"}).Encode()
	if err != nil {
		t.Fatal(err)
	}
	e, err := offline.ParseEvidence(data)
	if err != nil || len(e.Approvals) != 0 {
		t.Fatalf("ParseEvidence(%s) = %+v, %v", data, e, err)
	}
}

func TestEvidenceEncodeRefusesInvalidUTF8(t *testing.T) {
	e := &offline.Evidence{Statement: "ok", Bundle: "policy \xff"}
	if _, err := e.Encode(); !errors.Is(err, offline.ErrBadEvidence) || !strings.Contains(err.Error(), "bundle") {
		t.Fatalf("err = %v, want ErrBadEvidence naming the bundle", err)
	}
}

// FuzzParseEvidence: no panic, and what parses re-encodes and parses to the
// same evidence.
func FuzzParseEvidence(f *testing.F) {
	f.Add([]byte(`{"version":1,"statement":"s","approvals":[{"statement":"s","signature":"x"}],"bundle":"b"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := offline.ParseEvidence(data)
		if err != nil {
			return
		}
		enc, err := e.Encode()
		if err != nil {
			t.Fatalf("Encode of parsed evidence: %v", err) // decoding already replaced invalid UTF-8
		}
		again, err := offline.ParseEvidence(enc)
		if err != nil || !reflect.DeepEqual(again, e) {
			t.Fatalf("round trip of %q: %+v, %v", data, again, err)
		}
	})
}

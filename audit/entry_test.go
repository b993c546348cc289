package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s changed:\ngot:\n%s\nwant:\n%s", name, got, want)
	}
}

func goldenEntry() Entry {
	return Entry{
		Type:     "approval.recorded",
		Time:     time.Date(2026, 11, 25, 21, 30, 0, 5, time.FixedZone("CET", 3600)),
		Actor:    "bob",
		Subjects: []string{"req-01JD2X", "grant-7"},
		Data:     json.RawMessage("{ \"statement\": \"breakglass approval v1\\nrole: a<b>&c\",\n \"sig\": [1, 2.50, null] }"),
	}
}

func TestEntryGolden(t *testing.T) {
	e := goldenEntry()
	b := mustMarshal(t, e)
	golden(t, "entry.golden", b)
	p, err := ParseEntry(b)
	if err != nil {
		t.Fatalf("ParseEntry(golden): %v", err)
	}
	if !p.Time.Equal(e.Time) || p.Time.Location() != time.UTC {
		t.Errorf("time: got %v, want %v in UTC", p.Time, e.Time)
	}
	if p.Type != e.Type || p.Actor != e.Actor || strings.Join(p.Subjects, ",") != strings.Join(e.Subjects, ",") {
		t.Errorf("parsed %+v, want %+v", p, e)
	}
	if got, want := string(p.Data), `{"statement":"breakglass approval v1\nrole: a<b>&c","sig":[1,2.50,null]}`; got != want {
		t.Errorf("data: got %s, want %s", got, want)
	}
	if again := mustMarshal(t, *p); !bytes.Equal(again, b) {
		t.Errorf("re-marshal differs:\n%s\n%s", again, b)
	}
}

func TestEntryNoSubjects(t *testing.T) {
	e := Entry{Type: "broker.started", Time: testEpoch, Actor: "broker", Data: json.RawMessage(`null`)}
	b := mustMarshal(t, e)
	if !bytes.Contains(b, []byte(`"subjects":[]`)) {
		t.Errorf("no subjects must encode as [], got %s", b)
	}
	if _, err := ParseEntry(b); err != nil {
		t.Errorf("ParseEntry: %v", err)
	}
}

func TestEntryMarshalRejects(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Entry)
		want   string
	}{
		{"type one word", func(e *Entry) { e.Type = "granted" }, "malformed type"},
		{"type upper case", func(e *Entry) { e.Type = "Grant.Minted" }, "malformed type"},
		{"type empty word", func(e *Entry) { e.Type = "grant..minted" }, "malformed type"},
		{"type trailing dot", func(e *Entry) { e.Type = "grant.minted." }, "malformed type"},
		{"type word starts with a digit", func(e *Entry) { e.Type = "grant.2fa" }, "malformed type"},
		{"type space", func(e *Entry) { e.Type = "grant.minted now" }, "malformed type"},
		{"type too long", func(e *Entry) { e.Type = "grant." + strings.Repeat("x", MaxTypeLength) }, "malformed type"},
		{"empty type", func(e *Entry) { e.Type = "" }, "malformed type"},
		{"zero time", func(e *Entry) { e.Time = time.Time{} }, "zero time"},
		{"year 10000", func(e *Entry) { e.Time = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }, "year"},
		{"empty actor", func(e *Entry) { e.Actor = "" }, "actor: empty"},
		{"actor newline", func(e *Entry) { e.Actor = "bob\nmallory" }, "actor: control"},
		{"actor bad utf8", func(e *Entry) { e.Actor = "bob\xff" }, "actor: not valid UTF-8"},
		{"empty subject", func(e *Entry) { e.Subjects = []string{"a", ""} }, "subject 1: empty"},
		{"subject tab", func(e *Entry) { e.Subjects = []string{"a\tb"} }, "subject 0: control"},
		{"nil data", func(e *Entry) { e.Data = nil }, "data: empty"},
		{"bad json data", func(e *Entry) { e.Data = json.RawMessage(`{"a":`) }, "data: not valid JSON"},
		{"two values", func(e *Entry) { e.Data = json.RawMessage(`{} {}`) }, "data: not valid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := goldenEntry()
			tt.mutate(&e)
			_, err := e.Marshal()
			if err == nil || !errors.Is(err, ErrMalformedEntry) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Marshal: got %v, want error containing %q", err, tt.want)
			}
		})
	}
}

func TestParseEntryRejects(t *testing.T) {
	good := string(mustMarshal(t, goldenEntry()))
	body := strings.TrimPrefix(good, EntryPrefix)
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"empty", "", "prefix"},
		{"no prefix", body, "prefix"},
		{"v2 prefix", "breakglass-audit-entry/v2\n" + body, "prefix"},
		{"no final newline", strings.TrimSuffix(good, "\n"), `end in "}\n"`},
		{"two newlines", good + "\n", `end in "}\n"`},
		{"trailing value", good + "{}\n", "data: not valid JSON"},
		{"space after colon", strings.Replace(good, `"type":`, `"type": `, 1), "want a string at byte 8"},
		{"field order", EntryPrefix + `{"time":"2026-11-25T20:30:00.000000005Z","type":"approval.recorded","actor":"bob","subjects":[],"data":{}}` + "\n", `want {"type":`},
		{"unknown field", strings.Replace(good, `{"type"`, `{"x":1,"type"`, 1), `want {"type":`},
		{"duplicate field", strings.Replace(good, `"actor":"bob"`, `"actor":"eve","actor":"bob"`, 1), `want ,"subjects":[`},
		{"missing field", strings.Replace(good, `"actor":"bob",`, ``, 1), `want ,"actor":`},
		{"subjects null", strings.Replace(good, `["req-01JD2X","grant-7"]`, `null`, 1), `want ,"subjects":[`},
		{"escaped quote ok but ascii escaped", strings.Replace(good, `"bob"`, `"b\u006fb"`, 1), "canonical"},
		{"unterminated", EntryPrefix + `{"type":"grant.issued`, "unterminated string"},
		{"bad escape", strings.Replace(good, `"bob"`, `"b\qb"`, 1), "string at byte"},
		{"subjects separator", strings.Replace(good, `"req-01JD2X","grant-7"`, `"req-01JD2X";"grant-7"`, 1), "want , or ]"},
		{"escaped ascii", strings.Replace(good, `"bob"`, `"\u0062ob"`, 1), "canonical"},
		{"time offset", strings.Replace(good, `Z"`, `+00:00"`, 1), "time"},
		{"time short nanos", strings.Replace(good, `.000000005Z`, `.5Z`, 1), "time"},
		{"time no nanos", strings.Replace(good, `.000000005Z`, `Z`, 1), "time"},
		{"data uncompacted", strings.Replace(good, `[1,2.50,null]`, `[1, 2.50,null]`, 1), "canonical"},
		{"data missing", strings.Replace(good, `,"data":{`, `,"d":{`, 1), `want ,"data":`},
		{"malformed type", strings.Replace(good, `approval.recorded`, `Approval.Forged`, 1), "malformed type"},
		{"not json", EntryPrefix + "hello\n", `want {"type":`},
		{"invalid utf8 actor", strings.Replace(good, `"bob"`, "\"b\xffb\"", 1), "not valid UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.in == good {
				t.Fatal("mutation did not change the input")
			}
			_, err := ParseEntry([]byte(tt.in))
			if err == nil || !errors.Is(err, ErrMalformedEntry) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseEntry: got %v, want error containing %q", err, tt.want)
			}
		})
	}
}

// TestParseEntryMutations flips every byte of a valid entry: each mutation
// is rejected or parses to an entry that re-marshals to the mutated bytes
// (so a changed leaf always means a changed, still canonical record).
func TestParseEntryMutations(t *testing.T) {
	good := mustMarshal(t, goldenEntry())
	for i := range good {
		for _, x := range []byte{0x01, 0x20, 0x80} {
			b := bytes.Clone(good)
			b[i] ^= x
			e, err := ParseEntry(b)
			if err != nil {
				continue
			}
			if again := mustMarshal(t, *e); !bytes.Equal(again, b) {
				t.Errorf("byte %d ^ %#x: accepted non-canonical %q", i, x, b)
			}
		}
	}
}

func FuzzParseEntry(f *testing.F) {
	f.Add(mustMarshal(f, goldenEntry()))
	f.Add(mustMarshal(f, testEntry(3)))
	f.Add([]byte(EntryPrefix + "{}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := ParseEntry(b)
		if err != nil {
			return
		}
		again, err := e.Marshal()
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("accepted %q but re-marshal gives %q, %v", b, again, err)
		}
	})
}

// TestEntryEscapes checks the hand-written string encoding against
// encoding/json: what Marshal writes decodes to the same values.
func TestEntryEscapes(t *testing.T) {
	e := Entry{Type: "key.rotated", Time: testEpoch, Actor: `d"o\e`,
		Subjects: []string{"é☃", "x\u2028y", "</script>"}, Data: json.RawMessage(`"\u0000"`)}
	b := mustMarshal(t, e)
	var w struct {
		Actor    string   `json:"actor"`
		Subjects []string `json:"subjects"`
	}
	if err := json.Unmarshal(bytes.TrimPrefix(b, []byte(EntryPrefix)), &w); err != nil {
		t.Fatalf("encoding/json rejects %q: %v", b, err)
	}
	if w.Actor != e.Actor || strings.Join(w.Subjects, "|") != strings.Join(e.Subjects, "|") {
		t.Errorf("encoding/json reads %+v, want %q %q", w, e.Actor, e.Subjects)
	}
	p, err := ParseEntry(b)
	if err != nil {
		t.Fatalf("ParseEntry(%q): %v", b, err)
	}
	if p.Actor != e.Actor || strings.Join(p.Subjects, "|") != strings.Join(e.Subjects, "|") {
		t.Errorf("ParseEntry reads %+v", p)
	}
}

func TestAppendTimeMatchesFormat(t *testing.T) {
	for _, tm := range []time.Time{
		time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		testEpoch, time.Date(2026, 2, 3, 4, 5, 6, 7, time.UTC),
	} {
		if got, want := string(appendTime(nil, tm)), tm.Format(TimeFormat); got != want {
			t.Errorf("appendTime: got %s, want %s", got, want)
		}
	}
}

// TestCheckTypeAcceptsAnyDomain: the log takes any well-shaped type, so a
// new domain adds its events without changing the log.
func TestCheckTypeAcceptsAnyDomain(t *testing.T) {
	for _, typ := range []string{"grant.issued", "rollout.halted", "drill.step_started", "notify.sink.failed", "a.b", "k8s.v2"} {
		if err := CheckType(typ); err != nil {
			t.Errorf("CheckType(%q): %v, want accepted", typ, err)
		}
		e := goldenEntry()
		e.Type = typ
		back, err := ParseEntry(mustMarshal(t, e))
		if err != nil || back.Type != typ {
			t.Errorf("round trip of type %q: %v, %v", typ, back, err)
		}
	}
}

package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// entryScanner reads the fixed layout Marshal writes. It is lenient only
// where ParseEntry's re-marshal comparison catches the difference, and
// exists because encoding/json's reflection made VerifyLog too slow.
type entryScanner struct {
	b   []byte
	off int
}

// scanEntry parses the JSON object of an encoded entry (after the prefix).
func scanEntry(b []byte) (*Entry, error) {
	s := &entryScanner{b: b}
	e := &Entry{}
	var t string
	steps := []struct {
		lit string
		dst *string
	}{{`{"type":`, &e.Type}, {`,"time":`, &t}, {`,"actor":`, &e.Actor}}
	for _, st := range steps {
		if err := s.expect(st.lit); err != nil {
			return nil, err
		}
		v, err := s.str()
		if err != nil {
			return nil, err
		}
		*st.dst = v
	}
	tm, err := parseTime(t)
	if err != nil {
		return nil, fmt.Errorf("time: %w", err)
	}
	e.Time = tm
	if e.Subjects, err = s.subjects(); err != nil {
		return nil, err
	}
	if err := s.expect(`,"data":`); err != nil {
		return nil, err
	}
	rest := s.b[s.off:]
	if !bytes.HasSuffix(rest, []byte("}\n")) {
		return nil, errors.New(`does not end in "}\n"`)
	}
	e.Data = json.RawMessage(rest[:len(rest)-2])
	return e, nil
}

func (s *entryScanner) expect(lit string) error {
	if !s.skip(lit) {
		return fmt.Errorf("want %s at byte %d", lit, s.off)
	}
	return nil
}

// skip consumes lit if the input continues with it.
func (s *entryScanner) skip(lit string) bool {
	if !bytes.HasPrefix(s.b[s.off:], []byte(lit)) {
		return false
	}
	s.off += len(lit)
	return true
}

// str reads one JSON string.
func (s *entryScanner) str() (string, error) {
	b := s.b[s.off:]
	if len(b) == 0 || b[0] != '"' {
		return "", fmt.Errorf("want a string at byte %d", s.off)
	}
	escaped := false
	for i := 1; i < len(b); i++ {
		switch b[i] {
		case '\\':
			escaped = true
			i++
		case '"':
			s.off += i + 1
			if !escaped {
				return string(b[1:i]), nil
			}
			var v string
			if err := json.Unmarshal(b[:i+1], &v); err != nil {
				return "", fmt.Errorf("string at byte %d: %w", s.off-i-1, err)
			}
			return v, nil
		}
	}
	return "", fmt.Errorf("unterminated string at byte %d", s.off)
}

// subjects reads `,"subjects":[...]`; an empty list gives nil.
func (s *entryScanner) subjects() ([]string, error) {
	if err := s.expect(`,"subjects":[`); err != nil {
		return nil, err
	}
	if s.skip("]") {
		return nil, nil
	}
	var out []string
	for {
		v, err := s.str()
		if err != nil {
			return nil, err
		}
		out = append(out, v)
		if s.skip("]") {
			return out, nil
		}
		if !s.skip(",") {
			return nil, fmt.Errorf("want , or ] at byte %d", s.off)
		}
	}
}

// parseTime reads TimeFormat, fixed width and UTC, as time.Parse would but
// without interpreting the layout (VerifyLog reads a million of them).
func parseTime(s string) (time.Time, error) {
	const layout = "dddd-dd-ddTdd:dd:dd.dddddddddZ"
	if len(s) != len(layout) {
		return time.Time{}, fmt.Errorf("%q is not of the form %s", s, TimeFormat)
	}
	for i := range len(layout) {
		if c := s[i]; layout[i] == 'd' && (c < '0' || c > '9') || layout[i] != 'd' && c != layout[i] {
			return time.Time{}, fmt.Errorf("%q is not of the form %s", s, TimeFormat)
		}
	}
	num := func(from, to int) int {
		v := 0
		for _, c := range s[from:to] {
			v = 10*v + int(c-'0')
		}
		return v
	}
	y, mo, d, h, mi, sec := num(0, 4), num(5, 7), num(8, 10), num(11, 13), num(14, 16), num(17, 19)
	if mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || sec > 59 {
		return time.Time{}, fmt.Errorf("%q: field out of range", s)
	}
	t := time.Date(y, time.Month(mo), d, h, mi, sec, num(20, 29), time.UTC)
	if t.Day() != d {
		return time.Time{}, fmt.Errorf("%q: day out of range", s)
	}
	return t, nil
}

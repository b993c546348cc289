package main

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// TestREADME's output matcher: README output lines against what ran.

// readmeValues match, by kind, the values that differ from run to run and
// that one run shows the same each time: ids (ULIDs), sha256 hashes, SSH
// key fingerprints, the audit tree's root, times.
var readmeValues = []*regexp.Regexp{
	regexp.MustCompile(`\b[0-9A-HJKMNP-TV-Z]{26}\b`),
	regexp.MustCompile(`sha256:[0-9a-f]{64}`),
	regexp.MustCompile(`SHA256:[A-Za-z0-9+/]{43}`),
	regexp.MustCompile(`[A-Za-z0-9+/]{43}=`),
	regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ`),
}

// readmeTimeLeft is the time left until an expiry, which counts down.
var readmeTimeLeft = regexp.MustCompile(`\(in [0-9hms.]+\)`)

var readmeVarying = func() *regexp.Regexp {
	alts := []string{readmeTimeLeft.String(), `\.\.\.`}
	for _, re := range readmeValues {
		alts = append(alts, re.String())
	}
	return regexp.MustCompile(strings.Join(alts, "|"))
}()

// readmeMatched is a README output line and the line of output it matched.
type readmeMatched struct {
	line int
	re   *regexp.Regexp // the README line: a group for each of vals
	vals []string       // the README's values of readmeValues, in order
	got  string
}

// readmeLine turns a README output line into a regexp matching the output
// line it stands for.
func readmeLine(line int, want string) readmeMatched {
	var expr strings.Builder
	var vals []string
	prev := 0
	for _, loc := range readmeVarying.FindAllStringIndex(want, -1) {
		expr.WriteString(regexp.QuoteMeta(want[prev:loc[0]]))
		tok := want[loc[0]:loc[1]]
		prev = loc[1]
		switch {
		case tok == "...":
			expr.WriteString(`.*?`)
		case readmeTimeLeft.MatchString(tok):
			expr.WriteString(readmeTimeLeft.String())
		default:
			for _, re := range readmeValues {
				if re.FindString(tok) == tok {
					expr.WriteString("(" + re.String() + ")")
					vals = append(vals, tok)
					break
				}
			}
		}
	}
	expr.WriteString(regexp.QuoteMeta(want[prev:]))
	return readmeMatched{line: line, re: regexp.MustCompile("^" + expr.String() + "$"), vals: vals}
}

// readmeMatch matches out against the README's lines want, the first at
// README line first; a line "..." stands for any number of lines. It
// returns each README line with the line it matched, or nil.
func readmeMatch(first int, want []string, out string) []readmeMatched {
	var got []string
	if out != "" {
		got = strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	}
	for i := range got {
		got[i] = strings.TrimRight(got[i], " \t")
	}
	ms := make([]readmeMatched, len(want))
	for i, w := range want {
		ms[i] = readmeLine(first+i, strings.TrimRight(w, " \t"))
	}
	var align func(i, j int) bool
	align = func(i, j int) bool {
		switch {
		case i == len(want):
			return j == len(got)
		case want[i] == "...":
			for k := j; k <= len(got); k++ {
				if align(i+1, k) {
					return true
				}
			}
			return false
		case j < len(got) && ms[i].re.MatchString(got[j]):
			ms[i].got = got[j]
			return align(i+1, j+1)
		}
		return false
	}
	if !align(0, 0) {
		return nil
	}
	var matched []readmeMatched
	for i, m := range ms {
		if want[i] != "..." {
			matched = append(matched, m)
		}
	}
	return matched
}

// readmeBindings ties the README's example values to the run's: one README
// value stands for one value of the run, written one way throughout.
type readmeBindings struct {
	toRun, toREADME map[string]string
	line            map[string]int // where a README value first appeared
}

func (b *readmeBindings) bindAll(ms []readmeMatched) error {
	var errs []error
	for _, m := range ms {
		sub := m.re.FindStringSubmatch(m.got)
		for i, v := range m.vals {
			got := sub[i+1]
			if r, ok := b.toRun[v]; ok && r != got {
				errs = append(errs, fmt.Errorf("README.md:%d: %s stands for %s, but for %s at README.md:%d: one value, one thing", m.line, v, got, r, b.line[v]))
				continue
			}
			if w, ok := b.toREADME[got]; ok && w != v {
				errs = append(errs, fmt.Errorf("README.md:%d: %s is the value README.md:%d writes %s: write it the same way, so the examples read as one run", m.line, v, b.line[w], w))
				continue
			}
			if _, ok := b.toRun[v]; !ok {
				b.toRun[v], b.toREADME[got], b.line[v] = got, v, m.line
			}
		}
	}
	return errors.Join(errs...)
}

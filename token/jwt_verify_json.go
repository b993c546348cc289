package token

import (
	"strings"
	"time"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
)

// jsonReader reads the plain JSON that Mint writes, for the fast path: an
// object of distinct members whose values are strings without escapes or
// control characters in valid UTF-8, whole numbers of at most maxDigits
// digits, true, false, and arrays of such strings, with any JSON white space
// between tokens. All of it is valid JSON (RFC 8259), and each value it reads
// is the one encoding/json decodes from it. It refuses the rest (escapes,
// null, fractions, exponents, signs, nesting, a repeated key: forms whose
// decoding by encoding/json would need more care), and the token then goes to
// jwt/v5.
type jsonReader struct {
	s string
	i int
}

// maxDigits bounds the numbers jsonReader reads, so that each is exact as the
// float64 through which jwt.NumericDate decodes: 10^15 < 2^53.
const maxDigits = 15

// maxMembers bounds an object's members; jwtClaims has 14 fields.
const maxMembers = 16

func (r *jsonReader) skipSpace() {
	for r.i < len(r.s) {
		switch r.s[r.i] {
		case ' ', '\t', '\n', '\r':
			r.i++
		default:
			return
		}
	}
}

// next consumes c, after white space, and reports whether it was there.
func (r *jsonReader) next(c byte) bool {
	r.skipSpace()
	if r.i < len(r.s) && r.s[r.i] == c {
		r.i++
		return true
	}
	return false
}

// atEnd reports whether only white space is left, as encoding/json requires
// after the top-level value.
func (r *jsonReader) atEnd() bool {
	r.skipSpace()
	return r.i == len(r.s)
}

// object reads an object, calling member with each key to read its value.
// A key seen twice is refused: encoding/json would keep the last value.
func (r *jsonReader) object(member func(key string) bool) bool {
	if !r.next('{') {
		return false
	}
	if r.next('}') {
		return true
	}
	var keys [maxMembers]string
	for n := 0; n < maxMembers; n++ {
		key, ok := r.str()
		if !ok || contains(keys[:n], key) || !r.next(':') || !member(key) {
			return false
		}
		keys[n] = key
		if r.next('}') {
			return true
		}
		if !r.next(',') {
			return false
		}
	}
	return false
}

func contains(keys []string, key string) bool {
	for _, k := range keys {
		if k == key {
			return true
		}
	}
	return false
}

// str reads a string that encoding/json decodes to its own bytes: no escape,
// no control character, valid UTF-8 (encoding/json replaces invalid bytes).
func (r *jsonReader) str() (string, bool) {
	if !r.next('"') {
		return "", false
	}
	start, ascii := r.i, true
	for ; r.i < len(r.s); r.i++ {
		switch c := r.s[r.i]; {
		case c == '"':
			v := r.s[start:r.i]
			r.i++
			return v, ascii || utf8.ValidString(v)
		case c == '\\' || c < 0x20:
			return "", false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return "", false
}

// strs reads an array of strings. An empty array is an empty slice, not nil,
// as encoding/json decodes it into a []string.
func (r *jsonReader) strs() ([]string, bool) {
	if !r.next('[') {
		return nil, false
	}
	list := make([]string, 0, 4) // room for the usual audiences or approvers
	if r.next(']') {
		return list, true
	}
	for {
		s, ok := r.str()
		if !ok {
			return nil, false
		}
		list = append(list, s)
		if r.next(']') {
			return list, true
		}
		if !r.next(',') {
			return nil, false
		}
	}
}

// whole reads a number without sign, fraction or exponent. What follows it
// is left for the caller, whose ',', '}' or ']' refuses "1.5", "1e9" or a
// sixteenth digit.
func (r *jsonReader) whole() (int64, bool) {
	r.skipSpace()
	start := r.i
	var n int64
	for r.i < len(r.s) && r.i-start < maxDigits && '0' <= r.s[r.i] && r.s[r.i] <= '9' {
		n = n*10 + int64(r.s[r.i]-'0')
		r.i++
	}
	digits := r.i - start
	return n, digits > 0 && (digits == 1 || r.s[start] != '0')
}

// boolean reads true or false; the caller's delimiter refuses "truex".
func (r *jsonReader) boolean() (bool, bool) {
	r.skipSpace()
	switch rest := r.s[r.i:]; {
	case strings.HasPrefix(rest, "true"):
		r.i += len("true")
		return true, true
	case strings.HasPrefix(rest, "false"):
		r.i += len("false")
		return false, true
	}
	return false, false
}

// readHeader reads a JOSE header of the form Mint writes, alg "EdDSA", a kid
// and typ "JWT" or no typ, and returns the kid. Any other member, crit among
// them, is refused.
func readHeader(s string) (kid string, ok bool) {
	r := jsonReader{s: s}
	var alg, typ string
	hasTyp := false
	ok = r.object(func(key string) bool {
		var ok bool
		switch key {
		case "alg":
			alg, ok = r.str()
		case "kid":
			kid, ok = r.str()
		case "typ":
			typ, ok = r.str()
			hasTyp = true
		}
		return ok
	})
	ok = ok && r.atEnd() && alg == algEdDSA && kid != "" && (!hasTyp || typ == "JWT")
	return kid, ok
}

// readClaims decodes s into w as encoding/json would, for the members of
// jwtClaims (matched exactly: encoding/json would also take "ISS" as iss) in
// the JSON jsonReader reads. It reports false for anything else.
func readClaims(s string, w *jwtClaims) bool {
	r := jsonReader{s: s}
	return r.object(func(key string) bool { return r.claim(key, w) }) && r.atEnd()
}

// claim reads the value of the member key into w.
func (r *jsonReader) claim(key string, w *jwtClaims) bool {
	switch key {
	case "iss":
		return r.strInto(&w.Issuer)
	case "sub":
		return r.strInto(&w.Subject)
	case "aud":
		return r.audience(&w.Audience)
	case "exp":
		return r.date(&w.ExpiresAt)
	case "nbf":
		return r.date(&w.NotBefore)
	case "iat":
		return r.date(&w.IssuedAt)
	case "jti":
		return r.strInto(&w.ID)
	case "role":
		return r.strInto(&w.Role)
	case "scope":
		return r.strInto(&w.Scope)
	case "incident":
		return r.strInto(&w.Incident)
	case "request_id":
		return r.strInto(&w.RequestID)
	case "approvers":
		var ok bool
		w.Approvers, ok = r.strs()
		return ok
	case "policy":
		return r.strInto(&w.Policy)
	case "drill":
		var ok bool
		w.Drill, ok = r.boolean()
		return ok
	}
	return false
}

func (r *jsonReader) strInto(v *string) bool {
	var ok bool
	*v, ok = r.str()
	return ok
}

// audience reads aud as jwt.ClaimStrings decodes it: a string is a list of
// one, an array a list, nil when empty.
func (r *jsonReader) audience(aud *jwt.ClaimStrings) bool {
	r.skipSpace()
	if r.i < len(r.s) && r.s[r.i] == '[' {
		list, ok := r.strs()
		if len(list) > 0 {
			*aud = list
		}
		return ok
	}
	s, ok := r.str()
	*aud = jwt.ClaimStrings{s}
	return ok
}

// date reads a NumericDate as jwt/v5 decodes a whole number of seconds.
func (r *jsonReader) date(d **jwt.NumericDate) bool {
	n, ok := r.whole()
	*d = jwt.NewNumericDate(time.Unix(n, 0))
	return ok
}

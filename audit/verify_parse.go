package audit

// VerifyLog parses entries on other goroutines while it hashes them:
// ParseEntry (a scan and a canonical re-encoding) costs about three times
// the hashing and needs nothing from the tree. Each chunk of entries is
// split between parseWorkers goroutines; the errors the walker reports, and
// their order, are those of checking each entry in turn (hash, then parse,
// then the checkpoints at its size).

// parseChunk is how many entries the walker hashes per hand-over.
const parseChunk = 1024

// parseWorkers is how many goroutines parse one chunk.
const parseWorkers = 2

// parsed is the parse of consecutive entries.
type parsed struct {
	types []string // entry types, up to the first malformed entry
	bad   *MalformedEntryError
}

// parsing is a chunk being parsed: one result per part, in order.
type parsing []chan parsed

// parseAsync starts parsing entries lo, lo+1, ...
func parseAsync(lo int64, entries [][]byte) parsing {
	p := make(parsing, parseWorkers)
	part := (len(entries) + parseWorkers - 1) / parseWorkers
	for k := range p {
		from, to := min(k*part, len(entries)), min((k+1)*part, len(entries))
		p[k] = make(chan parsed, 1)
		go func() { p[k] <- parseAll(lo+int64(from), entries[from:to]) }()
	}
	return p
}

// wait returns the chunk's parse, up to its first malformed entry.
func (p parsing) wait() parsed {
	var r parsed
	for _, c := range p {
		part := <-c
		if r.bad != nil {
			continue
		}
		r.types = append(r.types, part.types...)
		r.bad = part.bad
	}
	return r
}

// parseAll parses entries lo, lo+1, ..., stopping at the first malformed one.
func parseAll(lo int64, entries [][]byte) parsed {
	r := parsed{types: make([]string, 0, len(entries))}
	for k, b := range entries {
		e, err := ParseEntry(b)
		if err != nil {
			r.bad = &MalformedEntryError{Index: lo + int64(k), Err: err}
			return r
		}
		r.types = append(r.types, e.Type)
	}
	return r
}

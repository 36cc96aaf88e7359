package file

import (
	"bytes"
)

// splitFunc finds the end of the first complete record in buf: it returns
// the length of the record including its terminator, or -1 when buf holds no
// complete record yet.
type splitFunc func(buf []byte) int

// splitLines ends records at '\n'.
func splitLines(buf []byte) int {
	i := bytes.IndexByte(buf, '\n')
	if i < 0 {
		return -1
	}
	return i + 1
}

// splitCSV ends records at a '\n' outside double quotes (RFC 4180: quoted
// fields may hold newlines; "" inside quotes is an escaped quote and toggles
// the state twice, so counting quotes is enough).
func splitCSV(buf []byte) int {
	inQuotes := false
	for i, c := range buf {
		switch c {
		case '"':
			inQuotes = !inQuotes
		case '\n':
			if !inQuotes {
				return i + 1
			}
		}
	}
	return -1
}

// trimEOL drops a trailing "\n" or "\r\n". The result's capacity ends
// with it, so appending to a record never writes into the bytes after it.
func trimEOL(b []byte) []byte {
	b = bytes.TrimSuffix(b, []byte("\n"))
	b = bytes.TrimSuffix(b, []byte("\r"))
	return b[:len(b):len(b)]
}

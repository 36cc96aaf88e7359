package postgres

import (
	"context"
	"errors"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
)

// Sentinel errors callers branch on.
var (
	// ErrNoUniqueKey means upsert or delete was asked for on a table that
	// has no primary key or unique index over the key columns.
	ErrNoUniqueKey = errors.New("no primary key or unique index on the key columns")
	// ErrTableMissing means the target table does not exist and
	// auto.create is off.
	ErrTableMissing = errors.New("table does not exist and auto.create is false")
	// ErrColumnMissing means a record has a field the table lacks and
	// auto.evolve is off.
	ErrColumnMissing = errors.New("column does not exist and auto.evolve is false")
	// ErrBadKey means a record's key could not be read as the configured
	// primary key.
	ErrBadKey = errors.New("bad record key")
	// ErrBadValue means a record's value is not a JSON object.
	ErrBadValue = errors.New("bad record value")
	// ErrSlotMissing means the replication slot does not exist and
	// slot.create is false.
	ErrSlotMissing = errors.New("replication slot does not exist and slot.create is false")
	// ErrPublicationMissing means the publication does not exist and
	// publication.create is false.
	ErrPublicationMissing = errors.New("publication does not exist and publication.create is false")
)

// isTransient reports whether err is worth retrying on a fresh connection:
// the server went away, refused us while starting or shutting down, the
// network failed, or the transaction lost a serialization race.
func isTransient(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, context.Canceled) {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case strings.HasPrefix(pgErr.Code, "08"): // connection exception
			return true
		case strings.HasPrefix(pgErr.Code, "53"): // insufficient resources
			return true
		case strings.HasPrefix(pgErr.Code, "57P"): // admin/crash shutdown, cannot connect now
			return true
		case pgErr.Code == "40001", pgErr.Code == "40P01": // serialization failure, deadlock
			return true
		case pgErr.Code == "55P03": // lock not available
			return true
		case pgErr.Code == "55006": // object in use: a replication slot still held by a previous connection
			return true
		}
		return false
	}
	if pgconn.SafeToRetry(err) || pgconn.Timeout(err) {
		return true
	}
	var netErr net.Error
	if errors.As(err, &netErr) {
		return true
	}
	var connectErr *pgconn.ConnectError
	if errors.As(err, &connectErr) {
		return true
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed) {
		return true
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	// pgconn reports a connection it closed after an I/O failure this way.
	msg := err.Error()
	return strings.Contains(msg, "conn closed") || strings.Contains(msg, "connection reset") ||
		strings.Contains(msg, "broken pipe") || strings.Contains(msg, "unexpected EOF")
}

// isDataError reports whether err is about the data of one row (a value that
// does not parse as its column's type, a constraint it violates) rather than
// about the connection or the statement.
func isDataError(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	return strings.HasPrefix(pgErr.Code, "22") || // data exception
		strings.HasPrefix(pgErr.Code, "23") // integrity constraint violation
}

var copyLineRE = regexp.MustCompile(`COPY [^,]+, line (\d+)`)

// copyErrorLine returns the 1-based input line a COPY error points at, or 0.
func copyErrorLine(err error) int {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return 0
	}
	m := copyLineRE.FindStringSubmatch(pgErr.Where)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// describePgError formats a server error with its detail and where clause,
// for refusal messages users read in dead-letter headers.
func describePgError(err error) string {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return err.Error()
	}
	s := pgErr.Message + " (SQLSTATE " + pgErr.Code + ")"
	if pgErr.Detail != "" {
		s += ": " + pgErr.Detail
	}
	if pgErr.ColumnName != "" {
		s += " [column " + pgErr.ColumnName + "]"
	} else if pgErr.Where != "" {
		s += " [" + pgErr.Where + "]"
	}
	return s
}

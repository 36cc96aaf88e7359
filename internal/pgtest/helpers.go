package pgtest

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Connect opens a connection to the cluster's postgres database, closed when
// the test ends.
func (p *PG) Connect(t testing.TB) *pgx.Conn {
	t.Helper()
	return p.ConnectTo(t, "postgres")
}

// ConnectTo opens a connection to the named database, closed when the test
// ends.
func (p *PG) ConnectTo(t testing.TB, database string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, p.DSNFor(database))
	if err != nil {
		t.Fatalf("pgtest: connect to %s: %v", database, err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

// Exec runs SQL on the postgres database in a fresh connection and fails the
// test on error.
func (p *PG) Exec(t testing.TB, sql string, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, p.DSN())
	if err != nil {
		t.Fatalf("pgtest: connect: %v", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		t.Fatalf("pgtest: exec %q: %v", sql, err)
	}
}

// CreateDatabase creates a database and returns its DSN, so tests sharing one
// cluster stay out of each other's way.
func (p *PG) CreateDatabase(t testing.TB, name string) string {
	t.Helper()
	p.Exec(t, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	return p.DSNFor(name)
}

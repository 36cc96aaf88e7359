package pgtest_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sluicehq/sluice/internal/pgtest"
)

func TestStartStopKill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a PostgreSQL server")
	}
	pg := pgtest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	pg.Exec(t, "CREATE TABLE t (id int PRIMARY KEY)")
	pg.Exec(t, "INSERT INTO t VALUES (1)")

	var walLevel string
	if err := pg.Connect(t).QueryRow(ctx, "SHOW wal_level").Scan(&walLevel); err != nil {
		t.Fatal(err)
	}
	if walLevel != "logical" {
		t.Fatalf("wal_level = %q, want logical", walLevel)
	}

	// Fast stop, then start again on the same port and data: the row is kept.
	pg.Stop()
	if pg.Running() {
		t.Fatal("Running after Stop")
	}
	if _, err := pgx.Connect(ctx, pg.DSN()); err == nil {
		t.Fatal("connected to a stopped server")
	}
	pg.Start()
	pg.Exec(t, "INSERT INTO t VALUES (2)")

	// SIGKILL: committed rows survive crash recovery.
	pg.Kill()
	pg.Start()
	var n int
	if err := pg.Connect(t).QueryRow(ctx, "SELECT count(*) FROM t").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Fatalf("rows after kill and restart = %d, want 2", n)
	}

	dsn := pg.CreateDatabase(t, "other")
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
}

func TestReplicationConnection(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a PostgreSQL server")
	}
	pg := pgtest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgconn.Connect(ctx, pg.ReplicationDSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	res, err := conn.Exec(ctx, "IDENTIFY_SYSTEM").ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || len(res[0].Rows) != 1 {
		t.Fatalf("IDENTIFY_SYSTEM returned %v", res)
	}
}

package testserver

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestPostgres checks what the state tests rely on: the database answers
// at URL, and a Stop and Start keep the data and the URL.
func TestPostgres(t *testing.T) {
	t.Parallel()
	pg := StartPostgres(t)
	ctx := context.Background()
	query := func(sql string) string {
		t.Helper()
		c, err := pgx.Connect(ctx, pg.URL)
		if err != nil {
			t.Fatalf("connect: %v", err)
		}
		defer c.Close(ctx)
		var out string
		if err := c.QueryRow(ctx, sql).Scan(&out); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		return out
	}
	if got := query(`SELECT current_database()::text`); got != "easgate" {
		t.Errorf("database = %q, want easgate", got)
	}
	c, err := pgx.Connect(ctx, pg.URL)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(ctx, `CREATE TABLE kept AS SELECT 'still here'::text AS v`); err != nil {
		t.Fatal(err)
	}
	c.Close(ctx)
	pg.Stop(t)
	pg.Start(t)
	if got := query(`SELECT v FROM kept`); got != "still here" {
		t.Errorf("after restart = %q, want the row written before", got)
	}
}

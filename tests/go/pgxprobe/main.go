// An application as pgx (the Go Postgres driver) drives Eddy: a batch of prepared
// INSERTs, CopyFrom (pgx's binary COPY), a CopyFrom that fails part-way and writes
// nothing, and typed reads with parameters. Prints one line per step; the test
// (crates/server/tests/pgx.rs) compares them.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

func main() {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, os.Args[1])
	must("connect", err)
	defer conn.Close(ctx)

	_, err = conn.Exec(ctx, "CREATE TABLE items (id bigint PRIMARY KEY, name text, price numeric, at timestamptz)")
	must("create", err)

	batch := &pgx.Batch{}
	for i := 0; i < 100; i++ {
		batch.Queue("INSERT INTO items VALUES ($1, $2, $3, now())", i, fmt.Sprintf("item %d", i), float64(i)/4)
	}
	must("batch", conn.SendBatch(ctx, batch).Close())
	fmt.Println("OK batch", count(ctx, conn))

	rows := [][]any{}
	for i := 100; i < 1100; i++ {
		rows = append(rows, []any{int64(i), fmt.Sprintf("copied %d", i), nil, nil})
	}
	n, err := conn.CopyFrom(ctx, pgx.Identifier{"items"}, []string{"id", "name", "price", "at"}, pgx.CopyFromRows(rows))
	must("copy", err)
	fmt.Println("OK copy", n, count(ctx, conn))

	// A key already there, in the middle: the whole load fails, nothing is written.
	bad := [][]any{{int64(5000), "new", nil, nil}, {int64(7), "again", nil, nil}, {int64(5001), "new", nil, nil}}
	_, err = conn.CopyFrom(ctx, pgx.Identifier{"items"}, []string{"id", "name", "price", "at"}, pgx.CopyFromRows(bad))
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		fmt.Println("FAIL copy", pgErr.Code, count(ctx, conn))
	} else {
		fmt.Println("copy did not fail:", err)
	}

	var sum float64
	must("sum", conn.QueryRow(ctx, "SELECT sum(price)::float8 FROM items").Scan(&sum))
	fmt.Println("OK sum", sum)
	r, err := conn.Query(ctx, "SELECT id, name, price IS NULL, at IS NULL FROM items WHERE id = ANY($1) ORDER BY id", []int64{2, 1000})
	must("query", err)
	for r.Next() {
		var id int64
		var name string
		var noPrice, noAt bool
		must("scan", r.Scan(&id, &name, &noPrice, &noAt))
		fmt.Println("OK row", id, name, noPrice, noAt)
	}
	must("rows", r.Err())
}

func count(ctx context.Context, conn *pgx.Conn) int64 {
	var n int64
	must("count", conn.QueryRow(ctx, "SELECT count(*) FROM items").Scan(&n))
	return n
}

func must(what string, err error) {
	if err != nil {
		fmt.Println(what+":", err)
		os.Exit(1)
	}
}

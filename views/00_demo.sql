-- Demo tables and a little data, so `eddy serve --views views/` shows live views
-- without any other system. Applied once per data directory.
CREATE TABLE IF NOT EXISTS customers (id bigint NOT NULL, name text, region text);
CREATE TABLE IF NOT EXISTS orders (
    id bigint NOT NULL,
    customer_id bigint,
    amount numeric(10,2),
    status text,
    ts timestamp
);

INSERT INTO customers VALUES
    (1, 'ann', 'north'),
    (2, 'bob', 'south'),
    (3, 'cy', 'north'),
    (4, 'dee', 'west');

INSERT INTO orders VALUES
    (10, 1, 9.50, 'paid', '2026-11-01 10:00:00'),
    (11, 1, 20.00, 'paid', '2026-11-01 11:30:00'),
    (12, 2, 5.25, 'open', '2026-11-02 09:15:00'),
    (13, 3, 99.99, 'paid', '2026-11-02 17:45:00'),
    (14, 4, 42.00, 'refunded', '2026-11-03 08:00:00'),
    (15, NULL, 1.00, 'open', '2026-11-03 12:00:00');

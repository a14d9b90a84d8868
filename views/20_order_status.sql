-- Orders by status and day, with the largest order of each group.
CREATE MATERIALIZED VIEW IF NOT EXISTS order_status_daily AS
SELECT status, date_trunc('day', ts) AS day, count(*) AS orders, max(amount) AS largest
FROM orders
GROUP BY status, date_trunc('day', ts);

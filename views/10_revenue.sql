-- Revenue per region: a join and a group-by, maintained incrementally.
CREATE MATERIALIZED VIEW IF NOT EXISTS revenue AS
SELECT c.region, count(*) AS n, sum(o.amount) AS total
FROM orders o JOIN customers c ON c.id = o.customer_id
GROUP BY c.region;

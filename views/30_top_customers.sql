-- Customers with their paid totals, and a view over that view.
CREATE MATERIALIZED VIEW IF NOT EXISTS customer_totals AS
SELECT c.id, c.name, coalesce(sum(o.amount), 0) AS paid
FROM customers c LEFT JOIN orders o ON o.customer_id = c.id AND o.status = 'paid'
GROUP BY c.id, c.name;

CREATE MATERIALIZED VIEW IF NOT EXISTS big_customers AS
SELECT name, paid FROM customer_totals WHERE paid > 25;

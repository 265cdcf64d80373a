"""Analytics: the stats tables, their materialized views and the rebuild from Kafka."""

"""Amazon CloudWatch: custom metrics (PutMetricData, ListMetrics, GetMetricStatistics, GetMetricData)."""
